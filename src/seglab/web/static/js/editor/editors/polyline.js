// Editing polylines: drag, insert and delete vertices (a polyline keeps at least 2).
import { closestSegment } from "../shapes/geom.js";

export default {
  handles: (g) => g.points.map(([x, y], index) => ({ x, y, ref: { index } })),
  midpoints: (g) => g.points.slice(0, -1).map(([x, y], index) => ({
    x: (x + g.points[index + 1][0]) / 2, y: (y + g.points[index + 1][1]) / 2, ref: { index },
  })),
  moveHandle(g, ref, x, y) {
    const points = g.points.slice();
    points[ref.index] = [x, y];
    return { points };
  },
  insertAt(g, ref, x, y) {
    const points = g.points.slice();
    points.splice(ref.index + 1, 0, [x, y]);
    return { geometry: { points }, ref: { index: ref.index + 1 } };
  },
  edgeAt(g, x, y, tol) {
    const seg = closestSegment(g.points, x, y, false);
    return seg && seg.d2 <= tol * tol ? { ...seg, ref: { index: seg.index } } : null;
  },
  deleteVertex: (g, ref) => (g.points.length > 2 ? { points: g.points.filter((_, i) => i !== ref.index) } : null),
  sameRef: (a, b) => Boolean(a && b && a.index === b.index),
};
