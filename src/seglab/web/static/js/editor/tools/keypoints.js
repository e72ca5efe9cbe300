// Keypoints tool (K): place the current class's skeleton points in order. Click: visible (v=2);
// Shift+click: occluded (v=1); S: skip the point (not labeled, v=0); Backspace: back one; Enter: finish
// with the remaining points skipped. The object is created when the last point is placed.
import { styleFor } from "../render/style.js";

export function createKeypointsTool(editor) {
  let points = [];
  const skeleton = () => {
    const cls = editor.classByName.get(editor.currentClass);
    return cls && cls.skeleton && cls.skeleton.points.length ? cls.skeleton : null;
  };
  const tool = {
    name: "keypoints", kind: "keypoints", key: "k", icon: "keypoints", label: "Keypoints",
    get hint() {
      const sk = skeleton();
      if (!sk) return "Pick a class with a skeleton.";
      const next = sk.points[points.length];
      return `Place "${next}" (${points.length + 1} of ${sk.points.length}). Shift+click: occluded, S: skip, Enter: finish.`;
    },
    /** For the side panel: the skeleton's point names, and how far placement got. */
    progress() {
      const sk = skeleton();
      return sk ? { names: sk.points, placed: points } : null;
    },
    onPointerDown(e, p) {
      if (!skeleton()) return editor.setHint(tool.hint);
      const [x, y] = editor.clampPoint(p);
      add([x, y, e.shiftKey ? 1 : 2]);
    },
    onPointerMove() {
      if (points.length) editor.requestRender();
    },
    onKey(e) {
      const sk = skeleton();
      if (!sk) return false;
      if (e.key === "s" || e.key === "S") return add([0, 0, 0]), true;
      if (e.key === "Backspace" && points.length) return points.pop(), changed(), true;
      if (e.key === "Enter" && points.some((q) => q[2] > 0)) {
        while (points.length < sk.points.length) points.push([0, 0, 0]);
        return finish(), true;
      }
      if (e.key === "Escape" && points.length) return tool.cancel(), true;
      return false;
    },
    cancel() {
      points = [];
      changed();
    },
    activate() {
      points = [];
    },
    drawOverlay(ctx, vp) {
      const sk = skeleton();
      if (!sk) return;
      const cls = editor.classByName.get(editor.currentClass);
      const style = styleFor(cls.color);
      const at = (q) => vp.toScreen(q[0], q[1]);
      ctx.strokeStyle = style.stroke;
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      for (const [a, b] of sk.edges) {
        const p = points[a];
        const q = points[b];
        if (p && q && p[2] && q[2]) {
          ctx.moveTo(...at(p));
          ctx.lineTo(...at(q));
        }
      }
      ctx.stroke();
      for (const q of points) {
        if (!q[2]) continue;
        ctx.beginPath();
        ctx.arc(...at(q), 4, 0, Math.PI * 2);
        ctx.fillStyle = q[2] === 2 ? style.stroke : "rgba(0,0,0,0.5)";
        ctx.fill();
        ctx.strokeStyle = "#fff";
        ctx.stroke();
      }
      if (editor.cursor && points.length < sk.points.length) {
        const [sx, sy] = vp.toScreen(...editor.cursor);
        ctx.font = "12px system-ui, sans-serif";
        ctx.fillStyle = "#fff";
        ctx.strokeStyle = "rgba(0,0,0,0.8)";
        ctx.lineWidth = 3;
        ctx.strokeText(sk.points[points.length], sx + 10, sy - 10);
        ctx.fillText(sk.points[points.length], sx + 10, sy - 10);
      }
    },
  };
  function changed() {
    editor.requestRender();
    editor.dispatchEvent(new CustomEvent("tool"));
  }
  function add(q) {
    points.push(q);
    if (points.length === skeleton().points.length) finish();
    else changed();
  }
  function finish() {
    const done = points;
    points = [];
    if (done.some((q) => q[2] > 0)) editor.addObject("keypoints", { points: done });
    changed();
  }
  return tool;
}
