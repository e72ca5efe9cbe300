"""Interactive segmentation: clicks, strokes and boxes to a mask, offline on a CPU, no weights needed.

- :func:`segment` / :func:`segment_to_polygon`: the entry points (methods ``auto``, ``combined``,
  ``grabcut``, ``superpixels``, ``wand``, ``sam``);
- :class:`AssistSession`: per-image cache (working image, superpixels, palette, SAM embeddings);
- :class:`OnnxSam`: a user's SAM-style ONNX encoder/decoder through ONNX Runtime;
- :mod:`seglab.assist.noc`: the click protocol (NoC@85/90) to measure any of them.

Imports only :mod:`seglab.core` (import-linter layers contract).
"""

from seglab.assist.api import METHODS, segment, segment_to_polygon
from seglab.assist.cache import SESSIONS, AssistSession, session_for
from seglab.assist.combined import AutoParams
from seglab.assist.noc import ClickTrace, next_click, run_clicks
from seglab.assist.onnx_sam import OnnxSam

__all__ = [
    "METHODS",
    "SESSIONS",
    "AssistSession",
    "AutoParams",
    "ClickTrace",
    "OnnxSam",
    "next_click",
    "run_clicks",
    "segment",
    "segment_to_polygon",
    "session_for",
]
