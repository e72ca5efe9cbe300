// The panoptic view: every visible segment (polygons and masks) painted in draw order into one label
// raster, stuff coloured by class and things by instance, and the pixels no segment covers hatched in
// magenta. It is computed in the browser at reduced resolution (at most MAX_SIDE pixels a side), once per
// change of the objects or of what is hidden, and drawn scaled over the image.
import { fillPolygon } from "../convert.js";
import { raster } from "../shapes/mask.js";

const MAX_SIDE = 1024;
const MIN_INTERVAL_MS = 120; // while an edit is dragged, recompute at most this often
const ALPHA = 170;
const UNCOVERED = [255, 0, 255];

/** A distinct, stable colour for an instance (golden-ratio hues over its id). */
export function instanceColor(id) {
  const hue = (((Math.abs(id) * 0.6180339887) % 1) + 1) % 1;
  const s = 0.7;
  const l = 0.55;
  const f = (n) => {
    const k = (n + hue * 12) % 12;
    return Math.round(255 * (l - s * Math.min(l, 1 - l) * Math.max(-1, Math.min(k - 3, 9 - k, 1))));
  };
  return [f(0), f(8), f(4)];
}

/** Paint the set pixels of a mask geometry into `labels` (w x h, `scale` of the image) as `value`. */
function fillMask(g, labels, w, h, value, scale) {
  const r = raster(g);
  if (!r.bbox) return;
  const [x0, y0, x1, y1] = r.bbox;
  const c0 = Math.floor(x0 * scale);
  const c1 = Math.min(w - 1, Math.ceil(x1 * scale));
  const r0 = Math.floor(y0 * scale);
  const r1 = Math.min(h - 1, Math.ceil(y1 * scale));
  for (let row = r0; row <= r1; row++) {
    const sy = Math.min(r.height - 1, Math.floor((row + 0.5) / scale));
    for (let col = c0; col <= c1; col++) {
      const sx = Math.min(r.width - 1, Math.floor((col + 0.5) / scale));
      if (r.data[sy * r.width + sx]) labels[row * w + col] = value;
    }
  }
}

/**
 * The label raster of `objects` (in draw order) at `scale`: {labels, w, h, colors} where labels[i] is 0
 * for uncovered pixels and k + 1 for objects[k], whose colour is colors[k].
 */
export function panopticRaster(objects, classOf, width, height, scale) {
  const w = Math.max(1, Math.round(width * scale));
  const h = Math.max(1, Math.round(height * scale));
  const labels = new Int32Array(w * h);
  const colors = [];
  objects.forEach((obj, k) => {
    const cls = classOf(obj);
    colors.push(cls.kind === "stuff" ? cls.color : instanceColor(obj.id));
    if (obj.kind === "polygon") fillPolygon(obj.polygon, labels, w, h, k + 1, scale);
    else fillMask(obj.mask, labels, w, h, k + 1, scale);
  });
  return { labels, w, h, colors };
}

export class PanopticOverlay {
  constructor() {
    this.key = null;
    this.canvas = null;
    this.stats = null; // {segments, uncovered (fraction of the image)}
    this.computedAt = 0;
  }

  /** Recompute when the segments changed (throttled during drags); returns true when a later frame must. */
  update(editor, now) {
    const objects = editor.doc.objects;
    const key = `${editor.doc.revision}|${objects.length}|${[...editor.hidden].join(",")}`;
    if (key === this.key && this.objects === objects) return false;
    if (this.canvas && now - this.computedAt < MIN_INTERVAL_MS) return true;
    this.key = key;
    this.objects = objects;
    this.computedAt = now;
    const segments = editor.drawOrder().filter((o) => (o.kind === "polygon" || o.kind === "mask") && !editor.hidden.has(o.id));
    const scale = Math.min(1, MAX_SIDE / Math.max(editor.width, editor.height));
    const { labels, w, h, colors } = panopticRaster(segments, (o) => editor.classOf(o), editor.width, editor.height, scale);
    if (!this.canvas) this.canvas = document.createElement("canvas");
    this.canvas.width = w;
    this.canvas.height = h;
    const ctx = this.canvas.getContext("2d");
    const img = ctx.createImageData(w, h);
    const px = new Uint32Array(img.data.buffer);
    const packed = colors.map(([r, g, b]) => ((ALPHA << 24) | (b << 16) | (g << 8) | r) >>> 0); // little-endian RGBA
    const [ur, ug, ub] = UNCOVERED;
    const stripe = ((230 << 24) | (ub << 16) | (ug << 8) | ur) >>> 0;
    const between = ((70 << 24) | (ub << 16) | (ug << 8) | ur) >>> 0;
    let uncovered = 0;
    for (let row = 0; row < h; row++) {
      for (let col = 0; col < w; col++) {
        const i = row * w + col;
        const label = labels[i];
        if (label) px[i] = packed[label - 1];
        else {
          uncovered++;
          px[i] = ((row + col) >> 2) & 1 ? stripe : between; // diagonal hatching
        }
      }
    }
    ctx.putImageData(img, 0, 0);
    this.stats = { segments: segments.length, uncovered: uncovered / (w * h) };
    editor.panopticStats = this.stats;
    editor.dispatchEvent(new CustomEvent("panoptic", { detail: this.stats }));
    return false;
  }

  draw(ctx, vp, width, height) {
    if (!this.canvas) return;
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(this.canvas, vp.tx, vp.ty, width * vp.scale, height * vp.scale);
    ctx.imageSmoothingEnabled = true;
  }
}
