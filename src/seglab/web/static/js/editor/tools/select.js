// Select and edit (V): click an object to select it, drag it to move it, drag its vertices, drag an edge's
// midpoint (or double-click the edge) to insert a vertex, Delete removes the active vertex or the object,
// T cycles a keypoint's visibility, arrow keys nudge (Shift: 10 px), PageUp / PageDown change the z-order.
// Boxes resize from their corners and edges, and turn with the handle above them where the class's
// ontology allows rotation (`extra.rotatable`).
import { editors } from "../editors/registry.js";
import { geometryOf, shapes, withGeometry } from "../shapes/registry.js";
import { drawHandle } from "./sketch.js";

const HANDLE_PX = 7;
const MIN_EDGE_PX = 18; // edges shorter than this on screen get no midpoint handle
const ROTATE_PX = 28; // the rotation handle's distance above a box's top edge, on screen
const SNAP_DEGREES = 15;

/** May boxes of this object's class be rotated? (The class's `extra.rotatable` in the ontology.) */
export function rotatable(editor, obj) {
  return obj.kind === "box" && Boolean((editor.classOf(obj).extra || {}).rotatable);
}

export function createSelectTool(editor) {
  let drag = null; // {type: "vertex", ref, base} | {type: "move", start, base} | {type: "rotate", base}

  function rotationHandle(obj) {
    return rotatable(editor, obj) ? editors.box.rotationHandle(geometryOf(obj), ROTATE_PX / editor.viewport.scale) : null;
  }

  function nearest(list, p, px) {
    const tol2 = (px / editor.viewport.scale) ** 2;
    let best = null;
    for (const hnd of list) {
      const d2 = (hnd.x - p[0]) ** 2 + (hnd.y - p[1]) ** 2;
      if (d2 <= tol2 && (!best || d2 < best.d2)) best = { ...hnd, d2 };
    }
    return best;
  }

  function midpoints(obj) {
    const ed = editors[obj.kind];
    if (!ed.midpoints) return [];
    const min = MIN_EDGE_PX / editor.viewport.scale;
    const g = geometryOf(obj);
    const hs = ed.handles(g);
    return ed.midpoints(g).filter((m) => {
      const a = hs.find((hnd) => ed.sameRef(hnd.ref, m.ref));
      return a && Math.hypot(a.x - m.x, a.y - m.y) * 2 >= min;
    });
  }

  function replaceSelected(geometry) {
    const id = editor.selectedId;
    editor.doc.preview(editor.doc.objects.map((o) => (o.id === id ? withGeometry(o, geometry) : o)));
  }

  const tool = {
    name: "select", key: "v", icon: "select", label: "Select and edit",
    hint: "Click to select; drag to move; drag vertices; drag an edge's midpoint to add a vertex; Delete removes.",
    onPointerDown(_e, p) {
      const sel = editor.selected;
      if (sel && editor.canEdit(sel)) {
        const ed = editors[sel.kind];
        const rot = rotationHandle(sel);
        if (rot && nearest([rot], p, HANDLE_PX)) {
          editor.doc.begin();
          drag = { type: "rotate", base: sel };
          return;
        }
        const handle = nearest(ed.handles(geometryOf(sel)), p, HANDLE_PX);
        if (handle) {
          editor.doc.begin();
          drag = { type: "vertex", ref: handle.ref, base: sel };
          editor.setVertex(handle.ref);
          return;
        }
        const mid = nearest(midpoints(sel), p, HANDLE_PX - 1);
        if (mid) {
          const { geometry, ref } = ed.insertAt(geometryOf(sel), mid.ref, ...editor.clampPoint(p));
          editor.doc.begin();
          replaceSelected(geometry);
          drag = { type: "vertex", ref, base: editor.selected };
          editor.setVertex(ref);
          return;
        }
      }
      const hit = editor.hitTest(p[0], p[1]);
      editor.select(hit ? hit.id : null);
      if (hit && editor.canEdit(hit)) drag = { type: "move", start: p, base: hit };
    },
    onPointerMove(e, p) {
      if (!drag) return;
      if (drag.type === "rotate") {
        replaceSelected(editors.box.rotateTo(geometryOf(drag.base), p[0], p[1], e.shiftKey ? SNAP_DEGREES : 0));
      } else if (drag.type === "vertex") {
        const ed = editors[drag.base.kind];
        replaceSelected(ed.moveHandle(geometryOf(drag.base), drag.ref, ...editor.clampPoint(p)));
      } else {
        const g = geometryOf(drag.base);
        editor.dragOffset = shapes[drag.base.kind].clampShift(g, p[0] - drag.start[0], p[1] - drag.start[1], editor.width, editor.height);
        editor.requestRender();
      }
    },
    onPointerUp() {
      if (!drag) return;
      if (drag.type === "rotate") editor.doc.end("rotate box");
      else if (drag.type === "vertex") editor.doc.end(drag.base.kind === "box" ? "resize box" : "move vertex");
      else if (editor.dragOffset && (editor.dragOffset[0] || editor.dragOffset[1])) {
        const [dx, dy] = editor.dragOffset;
        const base = drag.base;
        editor.dragOffset = null;
        editor.doc.update(base.id, (o) => withGeometry(o, shapes[o.kind].translate(geometryOf(o), dx, dy)), "move");
      }
      editor.dragOffset = null;
      drag = null;
      editor.requestRender();
    },
    onDoubleClick(_e, p) {
      const sel = editor.selected;
      if (!sel || !editor.canEdit(sel) || !editors[sel.kind].edgeAt) return;
      const edge = editors[sel.kind].edgeAt(geometryOf(sel), p[0], p[1], editor.tol(HANDLE_PX));
      if (!edge) return;
      const { geometry, ref } = editors[sel.kind].insertAt(geometryOf(sel), edge.ref, edge.x, edge.y);
      editor.doc.update(sel.id, (o) => withGeometry(o, geometry), "insert vertex");
      editor.setVertex(ref);
    },
    cancel() {
      if (drag && (drag.type === "vertex" || drag.type === "rotate")) editor.doc.cancel();
      editor.dragOffset = null;
      drag = null;
    },
    onKey(e) {
      const sel = editor.selected;
      if (!sel) return false;
      if (e.key === "Escape") return editor.select(null), true;
      if (!editor.canEdit(sel)) return false;
      const ed = editors[sel.kind];
      if (e.key === "Delete" || e.key === "Backspace") {
        if (editor.activeVertex && !e.shiftKey && sel.kind !== "box") { // a box's handles are not vertices
          const g = ed.deleteVertex(geometryOf(sel), editor.activeVertex);
          if (!g) {
            editor.setHint("This vertex cannot go (too few would remain); Shift+Delete deletes the object.");
            return true;
          }
          editor.doc.update(sel.id, (o) => withGeometry(o, g), "delete vertex");
          editor.setVertex(null);
        } else editor.deleteObject(sel.id);
        return true;
      }
      if ((e.key === "t" || e.key === "T") && sel.kind === "keypoints" && editor.activeVertex) {
        const ref = editor.activeVertex;
        editor.doc.update(sel.id, (o) => withGeometry(o, ed.cycleVisibility(geometryOf(o), ref)), "keypoint visibility");
        if (editor.selected.keypoints.points[ref.index][2] === 0) editor.setVertex(null);
        return true;
      }
      const arrows = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
      if (arrows[e.key]) {
        const step = e.shiftKey ? 10 : 1;
        const g = geometryOf(sel);
        const [dx, dy] = shapes[sel.kind].clampShift(g, arrows[e.key][0] * step, arrows[e.key][1] * step, editor.width, editor.height);
        if (dx || dy) editor.doc.update(sel.id, (o) => withGeometry(o, shapes[o.kind].translate(geometryOf(o), dx, dy)), "nudge");
        return true;
      }
      if (e.key === "PageUp" || e.key === "PageDown") return editor.shiftZ(sel.id, e.key === "PageUp" ? 1 : -1), true;
      return false;
    },
    drawOverlay(ctx, vp) {
      const sel = editor.selected;
      if (!sel || drag?.type === "move" || !editor.canEdit(sel)) return;
      const ed = editors[sel.kind];
      const g = geometryOf(sel);
      const rot = rotationHandle(sel);
      if (rot) {
        const [ax, ay] = vp.toScreen(...rot.anchor);
        const [hx, hy] = vp.toScreen(rot.x, rot.y);
        ctx.beginPath();
        ctx.moveTo(ax, ay);
        ctx.lineTo(hx, hy);
        ctx.lineWidth = 1.5;
        ctx.strokeStyle = "#fff";
        ctx.stroke();
        ctx.beginPath();
        ctx.arc(hx, hy, HANDLE_PX - 1, 0, Math.PI * 2);
        ctx.fillStyle = drag?.type === "rotate" ? "#fbbf24" : "#111827";
        ctx.fill();
        ctx.stroke();
      }
      for (const m of midpoints(sel)) drawHandle(ctx, vp, m.x, m.y, { mid: true });
      for (const hnd of ed.handles(g)) drawHandle(ctx, vp, hnd.x, hnd.y, { active: ed.sameRef(hnd.ref, editor.activeVertex) });
    },
  };
  return tool;
}
