// Polygon tool (P): click vertices; close on the first point or with Enter. H: the next polygon is a hole
// in the selected polygon; U: the next polygon is a new part of it. Backspace removes the last vertex.
import { insidePart } from "../shapes/polygon.js";
import { drawSketch, nearOnScreen } from "./sketch.js";

export function createPolygonTool(editor) {
  let points = [];
  let mode = "new"; // "new" | "hole" | "part"
  const tool = {
    name: "polygon", kind: "polygon", key: "p", icon: "polygon", label: "Polygon",
    get mode() {
      return mode;
    },
    get hint() {
      if (mode === "hole") return "Hole: click the hole's vertices inside the selected polygon; Enter or the first point closes it.";
      if (mode === "part") return "New part: click the part's vertices; Enter or the first point closes it.";
      return "Click vertices; click the first point or press Enter to close. H: hole, U: add a part.";
    },
    setMode(next) {
      const sel = editor.selected;
      if (next !== "new" && !(sel && sel.kind === "polygon" && editor.canEdit(sel))) {
        editor.setHint("Select a polygon first (V, then click it), then press H or U.");
        return;
      }
      mode = mode === next ? "new" : next;
      editor.dispatchEvent(new CustomEvent("tool"));
    },
    onPointerDown(_e, p) {
      const q = editor.clampPoint(p);
      if (points.length >= 3 && nearOnScreen(editor.viewport, q, points[0], 8)) return finish();
      points.push(q);
      editor.requestRender();
    },
    onPointerMove() {
      if (points.length) editor.requestRender();
    },
    onKey(e) {
      if (e.key === "Enter" && points.length >= 3) return finish(), true;
      if (e.key === "Escape" && points.length) return tool.cancel(), true;
      if (e.key === "Backspace" && points.length) return points.pop(), editor.requestRender(), true;
      if (e.key === "h" || e.key === "H") return tool.setMode("hole"), true;
      if (e.key === "u" || e.key === "U") return tool.setMode("part"), true;
      return false;
    },
    cancel() {
      points = [];
      editor.requestRender();
    },
    drawOverlay(ctx, vp) {
      const cursor = editor.cursor && editor.clampPoint(editor.cursor);
      const closeHint = points.length >= 3 && cursor && nearOnScreen(vp, cursor, points[0], 8);
      drawSketch(ctx, vp, points, closeHint ? null : cursor, { color: mode === "new" ? "#fff" : "#facc15", closeHint, closed: closeHint });
    },
  };

  function finish() {
    const ring = points;
    points = [];
    const sel = editor.selected;
    if (mode !== "new" && sel && sel.kind === "polygon") {
      const g = sel.polygon;
      let parts;
      if (mode === "hole") {
        let at = g.parts.findIndex((part) => insidePart(part, ring[0][0], ring[0][1]));
        if (at < 0) at = 0;
        parts = g.parts.map((part, i) => (i === at ? { ...part, holes: [...part.holes, ring] } : part));
      } else {
        parts = [...g.parts, { exterior: ring, holes: [] }];
      }
      editor.doc.update(sel.id, (o) => ({ ...o, polygon: { parts } }), mode === "hole" ? "add hole" : "add part");
      mode = "new";
      editor.dispatchEvent(new CustomEvent("tool"));
    } else {
      editor.addObject("polygon", { parts: [{ exterior: ring, holes: [] }] });
    }
    editor.requestRender();
  }
  return tool;
}
