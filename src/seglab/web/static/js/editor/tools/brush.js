// Brush (M) and eraser (E) for masks; [ and ] change the size. The brush paints into the selected mask of
// the current class, or starts a new mask; the eraser erases from the selected mask, or from the topmost
// mask under the first touch. Pixels whose centres fall inside the round brush are set, exactly.
import { styleFor } from "../render/style.js";
import { fromRaster, raster, rasterBounds } from "../shapes/mask.js";

export const brushState = { radius: 12 };

/** Set the pixels whose centres lie within `r` of (cx, cy); returns the touched pixel rectangle. */
function stamp(data, w, h, cx, cy, r, value) {
  const c0 = Math.max(0, Math.floor(cx - r));
  const c1 = Math.min(w - 1, Math.ceil(cx + r));
  const r0 = Math.max(0, Math.floor(cy - r));
  const r1 = Math.min(h - 1, Math.ceil(cy + r));
  const rr = r * r;
  for (let row = r0; row <= r1; row++) {
    const dy = row + 0.5 - cy;
    const base = row * w;
    for (let col = c0; col <= c1; col++) {
      const dx = col + 0.5 - cx;
      if (dx * dx + dy * dy <= rr) data[base + col] = value;
    }
  }
  return [c0, r0, c1 + 1, r1 + 1];
}

export function createBrushTool(editor, erase = false) {
  let stroke = null; // {target, data, canvas, ctx, last, color}
  const w = editor.width;
  const h = editor.height;

  function begin(p) {
    let target = editor.selected;
    if (erase) {
      if (!(target && target.kind === "mask")) {
        const under = editor.hitTest(p[0], p[1]);
        target = under && under.kind === "mask" ? under : null;
      }
      if (!target) return editor.setHint("Nothing to erase here: select a mask, or start on one.");
      if (!editor.canEdit(target)) return editor.setHint("That mask is locked.");
      editor.select(target.id);
    } else if (!(target && target.kind === "mask" && target.label === editor.currentClass && editor.canEdit(target))) {
      if (!editor.classAllows(editor.currentClass, "mask")) return editor.setHint("Pick a class that allows masks first.");
      target = null;
    }
    const data = target ? raster(target.mask).data.slice() : new Uint8Array(w * h);
    const canvas = document.createElement("canvas");
    canvas.width = w;
    canvas.height = h;
    const ctx = canvas.getContext("2d");
    const color = styleFor(target ? editor.classOf(target).color : editor.classByName.get(editor.currentClass).color).color;
    stroke = { target, data, canvas, ctx, last: null, color };
    editor.suppressSelected = Boolean(target);
    paint([0, 0, w, h]);
    to(p);
  }

  /** Copy the raster's rectangle into the preview canvas, coloured. */
  function paint([x0, y0, x1, y1]) {
    const rw = x1 - x0;
    const rh = y1 - y0;
    if (rw <= 0 || rh <= 0) return;
    const img = stroke.ctx.createImageData(rw, rh);
    const px = new Uint32Array(img.data.buffer);
    const [cr, cg, cb] = stroke.color;
    const on = ((150 << 24) | (cb << 16) | (cg << 8) | cr) >>> 0;
    for (let row = 0; row < rh; row++) {
      const src = (row + y0) * w + x0;
      for (let col = 0; col < rw; col++) if (stroke.data[src + col]) px[row * rw + col] = on;
    }
    stroke.ctx.putImageData(img, x0, y0);
  }

  function to(p) {
    const r = brushState.radius;
    const value = erase ? 0 : 1;
    const from = stroke.last || p;
    const steps = Math.max(1, Math.ceil(Math.hypot(p[0] - from[0], p[1] - from[1]) / Math.max(0.5, r / 3)));
    let rect = null;
    for (let i = 1; i <= steps; i++) {
      const t = i / steps;
      const d = stamp(stroke.data, w, h, from[0] + (p[0] - from[0]) * t, from[1] + (p[1] - from[1]) * t, r, value);
      rect = rect ? [Math.min(rect[0], d[0]), Math.min(rect[1], d[1]), Math.max(rect[2], d[2]), Math.max(rect[3], d[3])] : d;
    }
    stroke.last = p;
    paint(rect);
    editor.requestRender();
  }

  function end() {
    const { target, data } = stroke;
    stroke = null;
    editor.suppressSelected = false;
    const bbox = rasterBounds(data, w, h);
    if (!bbox) {
      if (target) editor.deleteObject(target.id);
    } else if (target) {
      const g = fromRaster(data, w, h, bbox);
      editor.doc.update(target.id, (o) => ({ ...o, mask: g }), erase ? "erase" : "paint");
    } else {
      editor.addObject("mask", fromRaster(data, w, h, bbox));
    }
    editor.requestRender();
  }

  return {
    name: erase ? "eraser" : "brush", kind: erase ? null : "mask", key: erase ? "e" : "m",
    icon: erase ? "eraser" : "brush", label: erase ? "Eraser" : "Brush",
    get hint() {
      return `${erase ? "Erase from the selected mask" : "Paint a mask of the current class"}; size ${brushState.radius * 2} px ([ and ] change it).`;
    },
    onPointerDown(_e, p) {
      begin(p);
    },
    onPointerMove() {
      if (stroke && editor.cursor) to(editor.cursor);
      else editor.requestRender(); // the brush outline follows the pointer
    },
    onPointerUp() {
      if (stroke) end();
    },
    cancel() {
      if (stroke) end();
    },
    onKey(e) {
      if (e.key === "[" || e.key === "]") {
        brushState.radius = Math.max(1, Math.min(500, Math.round(brushState.radius * (e.key === "]" ? 1.25 : 0.8))));
        editor.dispatchEvent(new CustomEvent("tool"));
        editor.requestRender();
        return true;
      }
      return false;
    },
    drawOverlay(ctx, vp) {
      if (stroke) {
        ctx.imageSmoothingEnabled = false;
        ctx.drawImage(stroke.canvas, vp.tx, vp.ty, w * vp.scale, h * vp.scale);
        ctx.imageSmoothingEnabled = true;
      }
      if (editor.cursor) {
        const [sx, sy] = vp.toScreen(...editor.cursor);
        ctx.beginPath();
        ctx.arc(sx, sy, brushState.radius * vp.scale, 0, Math.PI * 2);
        ctx.lineWidth = 1.5;
        ctx.strokeStyle = erase ? "#f87171" : "#fff";
        ctx.stroke();
      }
    },
  };
}
