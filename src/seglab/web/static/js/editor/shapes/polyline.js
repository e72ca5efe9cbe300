// Polyline geometry {points: [[x, y], ...]}.
import { clamp, nearPath, pointsBounds } from "./geom.js";

export default {
  kind: "polyline",
  bounds: (g) => pointsBounds(g.points),
  hit: (g, x, y, tol) => nearPath(g.points, x, y, Math.max(tol, 2), false),
  translate: (g, dx, dy) => ({ points: g.points.map(([x, y]) => [x + dx, y + dy]) }),
  clampShift(g, dx, dy, w, h) {
    const [x0, y0, x1, y1] = this.bounds(g);
    return [clamp(dx, -x0, w - x1), clamp(dy, -y0, h - y1)];
  },
};
