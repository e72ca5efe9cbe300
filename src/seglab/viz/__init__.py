"""Pictures of annotations: pure functions from core types and pixels to new pixels (no file I/O)."""

from seglab.viz.overlay import Rendered, class_color, draw_annotations

__all__ = ["Rendered", "class_color", "draw_annotations"]
