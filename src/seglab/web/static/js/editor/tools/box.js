// Box tool (B): press, drag to the opposite corner, release.
import boxShape from "../shapes/box.js";

export function createBoxTool(editor) {
  let start = null;
  let current = null;
  return {
    name: "box", kind: "box", key: "b", icon: "box", label: "Box",
    hint: "Drag from one corner to the opposite one.",
    onPointerDown(_e, p) {
      start = editor.clampPoint(p);
      current = start;
    },
    onPointerMove(_e, p) {
      if (!start) return;
      current = editor.clampPoint(p);
      editor.requestRender();
    },
    onPointerUp() {
      if (!start) return;
      const g = boxShape.fromPoints(start, current);
      const s = editor.viewport.scale;
      start = current = null;
      if ((g.x_max - g.x_min) * s >= 3 && (g.y_max - g.y_min) * s >= 3) editor.addObject("box", g);
      editor.requestRender();
    },
    cancel() {
      start = current = null;
    },
    onKey(e) {
      if (e.key === "Escape" && start) {
        this.cancel();
        editor.requestRender();
        return true;
      }
      return false;
    },
    drawOverlay(ctx, vp) {
      if (!start) return;
      const [x0, y0] = vp.toScreen(...start);
      const [x1, y1] = vp.toScreen(...current);
      ctx.setLineDash([5, 4]);
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = "#fff";
      ctx.strokeRect(Math.min(x0, x1), Math.min(y0, y1), Math.abs(x1 - x0), Math.abs(y1 - y0));
      ctx.setLineDash([]);
    },
  };
}
