// Polyline tool (L): click points; Enter or a double-click finishes (2 points at least).
import { drawSketch, nearOnScreen } from "./sketch.js";

export function createPolylineTool(editor) {
  let points = [];
  const tool = {
    name: "polyline", kind: "polyline", key: "l", icon: "polyline", label: "Polyline",
    hint: "Click points; press Enter or double-click to finish. Backspace removes the last point.",
    onPointerDown(_e, p) {
      const q = editor.clampPoint(p);
      const last = points[points.length - 1];
      if (!last || !nearOnScreen(editor.viewport, q, last, 2)) points.push(q);
      editor.requestRender();
    },
    onPointerMove() {
      if (points.length) editor.requestRender();
    },
    onDoubleClick() {
      if (points.length >= 2) finish();
    },
    onKey(e) {
      if (e.key === "Enter" && points.length >= 2) return finish(), true;
      if (e.key === "Escape" && points.length) return tool.cancel(), true;
      if (e.key === "Backspace" && points.length) return points.pop(), editor.requestRender(), true;
      return false;
    },
    cancel() {
      points = [];
      editor.requestRender();
    },
    drawOverlay(ctx, vp) {
      drawSketch(ctx, vp, points, editor.cursor && editor.clampPoint(editor.cursor));
    },
  };
  function finish() {
    const line = points;
    points = [];
    editor.addObject("polyline", { points: line });
  }
  return tool;
}
