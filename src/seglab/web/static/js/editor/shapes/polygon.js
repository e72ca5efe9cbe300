// Polygon geometry {parts: [{exterior: [[x, y], ...], holes: [[[x, y], ...], ...]}, ...]}.
import { clamp, inRing, nearPath, pointsBounds } from "./geom.js";

/** Every ring of the polygon with where it is: {part, ring (-1 exterior, else hole index), points}. */
export function rings(g) {
  const out = [];
  g.parts.forEach((p, part) => {
    out.push({ part, ring: -1, points: p.exterior });
    p.holes.forEach((h, ring) => out.push({ part, ring, points: h }));
  });
  return out;
}

export function ringAt(g, part, ring) {
  return ring < 0 ? g.parts[part].exterior : g.parts[part].holes[ring];
}

/** A copy of `g` with the ring (part, ring) replaced by `points` (other rings are shared, not copied). */
export function withRing(g, part, ring, points) {
  return {
    parts: g.parts.map((p, i) => {
      if (i !== part) return p;
      if (ring < 0) return { ...p, exterior: points };
      return { ...p, holes: p.holes.map((h, j) => (j === ring ? points : h)) };
    }),
  };
}

export function insidePart(p, x, y) {
  return inRing(p.exterior, x, y) && !p.holes.some((h) => inRing(h, x, y));
}

export default {
  kind: "polygon",
  bounds: (g) => pointsBounds(g.parts.flatMap((p) => p.exterior)),
  hit(g, x, y, tol) {
    return g.parts.some((p) => insidePart(p, x, y)) || rings(g).some((r) => nearPath(r.points, x, y, tol, true));
  },
  translate: (g, dx, dy) => ({
    parts: g.parts.map((p) => ({
      exterior: p.exterior.map(([x, y]) => [x + dx, y + dy]),
      holes: p.holes.map((h) => h.map(([x, y]) => [x + dx, y + dy])),
    })),
  }),
  clampShift(g, dx, dy, w, h) {
    const [x0, y0, x1, y1] = this.bounds(g);
    return [clamp(dx, -x0, w - x1), clamp(dy, -y0, h - y1)];
  },
};
