// Keypoints geometry {points: [[x, y, v], ...]} in skeleton order; v: 0 not labeled, 1 occluded, 2 visible.
import { clamp, pointsBounds, segmentDistance2 } from "./geom.js";

const unlabeled = (p) => p[2] === 0;

export default {
  kind: "keypoints",
  bounds(g) {
    return pointsBounds(g.points, unlabeled) || [0, 0, 0, 0];
  },
  /** Near a labeled point, or on the skeleton's edges (`edges` from the class, when given). */
  hit(g, x, y, tol, edges = []) {
    const r2 = Math.max(tol, 5) ** 2;
    if (g.points.some((p) => p[2] > 0 && (p[0] - x) ** 2 + (p[1] - y) ** 2 <= r2)) return true;
    return edges.some(([a, b]) => {
      const p = g.points[a];
      const q = g.points[b];
      return p && q && p[2] > 0 && q[2] > 0 && segmentDistance2(x, y, p[0], p[1], q[0], q[1]) <= tol * tol;
    });
  },
  translate: (g, dx, dy) => ({ points: g.points.map(([x, y, v]) => (v ? [x + dx, y + dy, v] : [x, y, v])) }),
  clampShift(g, dx, dy, w, h) {
    const [x0, y0, x1, y1] = this.bounds(g);
    return [clamp(dx, -x0, w - x1), clamp(dy, -y0, h - y1)];
  },
};
