// Editing boxes, rotated or not: drag a corner (the opposite corner stays) or an edge's middle (the opposite
// edge stays), in the box's own frame so a rotated box keeps its angle; drag the rotation handle above the
// top edge to turn it about its centre (only for classes whose ontology allows rotation; Shift snaps to
// 15 degrees).

// Handle positions in the box's frame, as multiples of the half width and half height.
const CORNERS = [[-1, -1], [1, -1], [1, 1], [-1, 1]];
const EDGES = [[0, -1], [1, 0], [0, 1], [-1, 0]];

/** Centre, half sizes and the rotation's cosine and sine of a box geometry. */
export function frame(g) {
  const t = ((g.rotation || 0) * Math.PI) / 180;
  return {
    cx: (g.x_min + g.x_max) / 2, cy: (g.y_min + g.y_max) / 2,
    hw: (g.x_max - g.x_min) / 2, hh: (g.y_max - g.y_min) / 2,
    cos: Math.cos(t), sin: Math.sin(t),
  };
}

/** Image point of the box-frame point (u, v) (offsets from the centre along the box's axes). */
function toImage(f, u, v) {
  return [f.cx + u * f.cos - v * f.sin, f.cy + u * f.sin + v * f.cos];
}

function toLocal(f, x, y) {
  const dx = x - f.cx;
  const dy = y - f.cy;
  return [dx * f.cos + dy * f.sin, -dx * f.sin + dy * f.cos];
}

/** Degrees in (-180, 180]. */
export function normalizeAngle(deg) {
  const a = ((((deg + 180) % 360) + 360) % 360) - 180;
  return a === -180 ? 180 : a;
}

export default {
  handles(g) {
    const f = frame(g);
    const at = (list, key) => list.map(([su, sv], i) => {
      const [x, y] = toImage(f, su * f.hw, sv * f.hh);
      return { x, y, ref: { [key]: i } };
    });
    return [...at(CORNERS, "corner"), ...at(EDGES, "edge")];
  },
  /** The geometry with the handle `ref` dragged to (x, y); the opposite corner or edge stays put. */
  moveHandle(g, ref, x, y) {
    const f = frame(g);
    const [u, v] = toLocal(f, x, y);
    const [su, sv] = ref.corner !== undefined ? CORNERS[ref.corner] : EDGES[ref.edge];
    // Box-frame extents [u0, u1] x [v0, v1]: the dragged sides follow the point, the others stay.
    let [u0, u1, v0, v1] = [-f.hw, f.hw, -f.hh, f.hh];
    if (su < 0) u0 = u;
    if (su > 0) u1 = u;
    if (sv < 0) v0 = v;
    if (sv > 0) v1 = v;
    const [cx, cy] = toImage(f, (u0 + u1) / 2, (v0 + v1) / 2);
    const hw = Math.abs(u1 - u0) / 2;
    const hh = Math.abs(v1 - v0) / 2;
    return { x_min: cx - hw, y_min: cy - hh, x_max: cx + hw, y_max: cy + hh, rotation: g.rotation || 0 };
  },
  /** Where the rotation handle is: `offset` image units beyond the middle of the top edge. */
  rotationHandle(g, offset) {
    const f = frame(g);
    const [x, y] = toImage(f, 0, -f.hh - offset);
    const [ax, ay] = toImage(f, 0, -f.hh);
    return { x, y, anchor: [ax, ay] };
  },
  /** The geometry turned so that the rotation handle points at (x, y); `snap` in degrees (0: none). */
  rotateTo(g, x, y, snap = 0) {
    const f = frame(g);
    let deg = (Math.atan2(y - f.cy, x - f.cx) * 180) / Math.PI + 90; // the handle sits at -90 degrees
    if (snap) deg = Math.round(deg / snap) * snap;
    return { ...g, rotation: normalizeAngle(Math.round(deg * 100) / 100) };
  },
  deleteVertex: () => null,
  sameRef: (a, b) => Boolean(a && b && a.corner === b.corner && a.edge === b.edge),
};
