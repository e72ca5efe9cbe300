// The renderer registry: how each kind is drawn. Path kinds add to a shared path so that runs of objects of
// one class are filled and stroked in one call; the others draw themselves.
import { corners } from "../shapes/box.js";
import { raster } from "../shapes/mask.js";
import { addDot, addPolygon, addRing, tiny } from "./paths.js";

export const renderers = {
  polygon: { fill: true, path: (ctx, g, view) => addPolygon(ctx, g, view) },
  box: {
    fill: true,
    path(ctx, g, view) {
      if (g.rotation) return addRing(ctx, corners(g), view, true);
      const s = view.scale;
      ctx.rect(g.x_min * s + view.tx, g.y_min * s + view.ty, (g.x_max - g.x_min) * s, (g.y_max - g.y_min) * s);
      return 4;
    },
  },
  polyline: { fill: false, path: (ctx, g, view) => addRing(ctx, g.points, view, false) },
  keypoints: { draw: drawKeypoints },
  mask: { draw: drawMask },
};

/** Add one object's outline to the current path (a dot when it is under two pixels on screen). */
export function addObjectPath(ctx, kind, g, bounds, view) {
  if (bounds && tiny(bounds, view)) return addDot(ctx, bounds, view);
  return renderers[kind].path(ctx, g, view);
}

function drawKeypoints(ctx, g, style, view, cls, lineWidth = 1.5) {
  const s = view.scale;
  const pts = g.points;
  ctx.lineWidth = lineWidth;
  ctx.strokeStyle = style.stroke;
  ctx.beginPath();
  for (const [a, b] of (cls && cls.skeleton && cls.skeleton.edges) || []) {
    const p = pts[a];
    const q = pts[b];
    if (!p || !q || !p[2] || !q[2]) continue;
    ctx.moveTo(p[0] * s + view.tx, p[1] * s + view.ty);
    ctx.lineTo(q[0] * s + view.tx, q[1] * s + view.ty);
  }
  ctx.stroke();
  for (const [x, y, v] of pts) {
    if (!v) continue;
    ctx.beginPath();
    ctx.arc(x * s + view.tx, y * s + view.ty, 4, 0, Math.PI * 2);
    if (v === 2) {
      ctx.fillStyle = style.stroke;
      ctx.fill();
      ctx.strokeStyle = "#fff";
      ctx.lineWidth = 1;
      ctx.stroke();
    } else {
      ctx.fillStyle = "rgba(0, 0, 0, 0.5)";
      ctx.fill();
      ctx.strokeStyle = style.stroke;
      ctx.lineWidth = 2;
      ctx.stroke();
    }
  }
}

const maskCanvases = new WeakMap(); // geometry -> {key, canvas}

/** The mask's pixels in its bounding box, coloured, as a canvas (made once per geometry and colour). */
export function maskCanvas(g, style) {
  const cached = maskCanvases.get(g);
  if (cached && cached.key === style.key) return cached.canvas;
  const r = raster(g);
  if (!r.bbox) return null;
  const canvas = tintedMaskCanvas(r.data, r.width, r.bbox, style.color);
  maskCanvases.set(g, { key: style.key, canvas });
  return canvas;
}

/**
 * The set pixels of `data` (row by row, `stride` wide) inside the box [x0, y0, x1, y1) as a canvas the
 * size of that box, in `color` ([r, g, b]) at 55 % opacity: for stored masks and the magic tool's answer.
 */
export function tintedMaskCanvas(data, stride, [x0, y0, x1, y1], [cr, cg, cb]) {
  const w = x1 - x0;
  const h = y1 - y0;
  const canvas = document.createElement("canvas");
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(w, h);
  const px = new Uint32Array(img.data.buffer);
  const value = ((140 << 24) | (cb << 16) | (cg << 8) | cr) >>> 0; // little-endian RGBA
  for (let row = 0; row < h; row++) {
    const src = (row + y0) * stride + x0;
    const dst = row * w;
    for (let col = 0; col < w; col++) if (data[src + col]) px[dst + col] = value;
  }
  ctx.putImageData(img, 0, 0);
  return canvas;
}

function drawMask(ctx, g, style, view) {
  const canvas = maskCanvas(g, style);
  if (!canvas) return;
  const [x0, y0, x1, y1] = raster(g).bbox;
  const s = view.scale;
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(canvas, x0 * s + view.tx, y0 * s + view.ty, (x1 - x0) * s, (y1 - y0) * s);
  ctx.imageSmoothingEnabled = true;
}

/** Draw one object on its own (selected objects, previews): fill and outline, or the kind's own drawing. */
export function drawObject(ctx, obj, style, view, cls, { lineWidth = 1.5, stroke, fill = true, dash } = {}) {
  const r = renderers[obj.kind];
  const g = obj[obj.kind];
  if (r.draw) {
    r.draw(ctx, g, style, view, cls, lineWidth);
    return;
  }
  ctx.beginPath();
  r.path(ctx, g, view);
  if (r.fill && fill) {
    ctx.fillStyle = style.fill;
    ctx.fill();
  }
  ctx.setLineDash(dash || []);
  ctx.lineWidth = lineWidth;
  ctx.strokeStyle = stroke || style.stroke;
  ctx.stroke();
  ctx.setLineDash([]);
}
