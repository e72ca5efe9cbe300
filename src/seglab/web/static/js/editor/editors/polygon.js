// Editing polygons: drag a vertex, insert one on an edge (drag its midpoint handle, or double-click the
// edge), delete the active vertex (a ring that would drop under 3 points goes away if it is a hole or an
// extra part; the last exterior is kept).
import { closestSegment } from "../shapes/geom.js";
import { ringAt, rings, withRing } from "../shapes/polygon.js";

export default {
  handles(g) {
    return rings(g).flatMap((r) => r.points.map(([x, y], index) => ({ x, y, ref: { part: r.part, ring: r.ring, index } })));
  },
  midpoints(g) {
    return rings(g).flatMap((r) => r.points.map(([x, y], index) => {
      const [nx, ny] = r.points[(index + 1) % r.points.length];
      return { x: (x + nx) / 2, y: (y + ny) / 2, ref: { part: r.part, ring: r.ring, index } };
    }));
  },
  moveHandle(g, ref, x, y) {
    const ring = ringAt(g, ref.part, ref.ring).slice();
    ring[ref.index] = [x, y];
    return withRing(g, ref.part, ref.ring, ring);
  },
  /** Insert a vertex at (x, y) after the edge start `ref`; returns the geometry and the new vertex's ref. */
  insertAt(g, ref, x, y) {
    const ring = ringAt(g, ref.part, ref.ring).slice();
    ring.splice(ref.index + 1, 0, [x, y]);
    return { geometry: withRing(g, ref.part, ref.ring, ring), ref: { ...ref, index: ref.index + 1 } };
  },
  /** The edge nearest (x, y) within `tol`, as a midpoint-style ref, for double-click insertion. */
  edgeAt(g, x, y, tol) {
    let best = null;
    for (const r of rings(g)) {
      const seg = closestSegment(r.points, x, y, true);
      if (seg && seg.d2 <= tol * tol && (!best || seg.d2 < best.d2)) best = { ...seg, ref: { part: r.part, ring: r.ring, index: seg.index } };
    }
    return best;
  },
  deleteVertex(g, ref) {
    const ring = ringAt(g, ref.part, ref.ring);
    if (ring.length > 3) return withRing(g, ref.part, ref.ring, ring.filter((_, i) => i !== ref.index));
    if (ref.ring >= 0) {
      return { parts: g.parts.map((p, i) => (i === ref.part ? { ...p, holes: p.holes.filter((_, j) => j !== ref.ring) } : p)) };
    }
    if (g.parts.length > 1) return { parts: g.parts.filter((_, i) => i !== ref.part) };
    return null;
  },
  sameRef: (a, b) => Boolean(a && b && a.part === b.part && a.ring === b.ring && a.index === b.index),
};
