// Box geometry {x_min, y_min, x_max, y_max, rotation (degrees clockwise about the centre)}.
import { clamp, inRing, nearPath, pointsBounds } from "./geom.js";

export function corners(g) {
  const cx = (g.x_min + g.x_max) / 2;
  const cy = (g.y_min + g.y_max) / 2;
  const hw = (g.x_max - g.x_min) / 2;
  const hh = (g.y_max - g.y_min) / 2;
  const t = ((g.rotation || 0) * Math.PI) / 180;
  const c = Math.cos(t);
  const s = Math.sin(t);
  return [[-hw, -hh], [hw, -hh], [hw, hh], [-hw, hh]].map(([x, y]) => [cx + x * c - y * s, cy + x * s + y * c]);
}

export default {
  kind: "box",
  bounds: (g) => (g.rotation ? pointsBounds(corners(g)) : [g.x_min, g.y_min, g.x_max, g.y_max]),
  hit(g, x, y, tol) {
    const ring = corners(g);
    return inRing(ring, x, y) || nearPath(ring, x, y, tol, true);
  },
  translate: (g, dx, dy) => ({ ...g, x_min: g.x_min + dx, x_max: g.x_max + dx, y_min: g.y_min + dy, y_max: g.y_max + dy }),
  /** The largest shift (dx, dy) toward the request that keeps the shape inside a w x h image. */
  clampShift(g, dx, dy, w, h) {
    const [x0, y0, x1, y1] = this.bounds(g);
    return [clamp(dx, -x0, w - x1), clamp(dy, -y0, h - y1)];
  },
  fromPoints(a, b) {
    return { x_min: Math.min(a[0], b[0]), y_min: Math.min(a[1], b[1]), x_max: Math.max(a[0], b[0]), y_max: Math.max(a[1], b[1]), rotation: 0 };
  },
};
