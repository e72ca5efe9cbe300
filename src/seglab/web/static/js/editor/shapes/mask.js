// Mask geometry {size: [height, width], counts: "<COCO compressed RLE>"}; decoded lazily, once per geometry.
import { decodeMask, encodeMask } from "../rle.js";

const cache = new WeakMap(); // geometry object -> {width, height, data, bbox}

/** The decoded raster of a mask geometry, with its bounding box [x0, y0, x1, y1] (null when empty). */
export function raster(g) {
  let r = cache.get(g);
  if (!r) {
    r = decodeMask(g);
    r.bbox = rasterBounds(r.data, r.width, r.height);
    cache.set(g, r);
  }
  return r;
}

/** Bounding box of the non-zero pixels (pixel edges, so a single pixel (i, j) gives [j, i, j+1, i+1]). */
export function rasterBounds(data, width, height) {
  let x0 = width;
  let y0 = height;
  let x1 = -1;
  let y1 = -1;
  for (let row = 0; row < height; row++) {
    const start = row * width;
    let first = -1;
    let last = -1;
    for (let col = 0; col < width; col++) {
      if (data[start + col]) {
        if (first < 0) first = col;
        last = col;
      }
    }
    if (first >= 0) {
      if (row < y0) y0 = row;
      y1 = row;
      if (first < x0) x0 = first;
      if (last > x1) x1 = last;
    }
  }
  return x1 < 0 ? null : [x0, y0, x1 + 1, y1 + 1];
}

/** A new geometry for a raster, with the decoded form cached so it is not decoded again. */
export function fromRaster(data, width, height, bbox) {
  const g = encodeMask(data, width, height);
  cache.set(g, { width, height, data, bbox: bbox === undefined ? rasterBounds(data, width, height) : bbox });
  return g;
}

export default {
  kind: "mask",
  bounds: (g) => raster(g).bbox || [0, 0, 0, 0],
  hit(g, x, y) {
    const r = raster(g);
    const col = Math.floor(x);
    const row = Math.floor(y);
    return col >= 0 && row >= 0 && col < r.width && row < r.height && r.data[row * r.width + col] > 0;
  },
  translate(g, dx, dy) {
    const r = raster(g);
    const ox = Math.round(dx);
    const oy = Math.round(dy);
    const out = new Uint8Array(r.width * r.height);
    for (let row = Math.max(0, oy); row < Math.min(r.height, r.height + oy); row++) {
      const src = (row - oy) * r.width;
      const dst = row * r.width;
      for (let col = Math.max(0, ox); col < Math.min(r.width, r.width + ox); col++) out[dst + col] = r.data[src + col - ox];
    }
    const b = r.bbox;
    return fromRaster(out, r.width, r.height, b && [b[0] + ox, b[1] + oy, b[2] + ox, b[3] + oy]);
  },
  /** Masks move by whole pixels and stay on the image. */
  clampShift(g, dx, dy, w, h) {
    const b = raster(g).bbox;
    if (!b) return [0, 0];
    return [Math.round(Math.min(w - b[2], Math.max(-b[0], dx))), Math.round(Math.min(h - b[3], Math.max(-b[1], dy)))];
  },
};
