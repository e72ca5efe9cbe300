// Small planar helpers shared by the shape modules (image pixel coordinates, y down).

/** Squared distance from (px, py) to the segment (ax, ay)-(bx, by). */
export function segmentDistance2(px, py, ax, ay, bx, by) {
  const dx = bx - ax;
  const dy = by - ay;
  const len2 = dx * dx + dy * dy;
  let t = len2 ? ((px - ax) * dx + (py - ay) * dy) / len2 : 0;
  t = Math.max(0, Math.min(1, t));
  const ex = ax + t * dx - px;
  const ey = ay + t * dy - py;
  return ex * ex + ey * ey;
}

/** Is (x, y) inside the ring [[x, y], ...] (even-odd rule)? */
export function inRing(ring, x, y) {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i];
    const [xj, yj] = ring[j];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** Is (x, y) within `tol` of the open (closed=false) or closed path through `points`? */
export function nearPath(points, x, y, tol, closed) {
  const tol2 = tol * tol;
  const n = points.length;
  const last = closed ? n : n - 1;
  for (let i = 0; i < last; i++) {
    const a = points[i];
    const b = points[(i + 1) % n];
    if (segmentDistance2(x, y, a[0], a[1], b[0], b[1]) <= tol2) return true;
  }
  return n === 1 && (points[0][0] - x) ** 2 + (points[0][1] - y) ** 2 <= tol2;
}

/** The closest segment of a path to (x, y): {index (segment start), d2, x, y (foot point)}. */
export function closestSegment(points, x, y, closed) {
  let best = null;
  const n = points.length;
  const last = closed ? n : n - 1;
  for (let i = 0; i < last; i++) {
    const [ax, ay] = points[i];
    const [bx, by] = points[(i + 1) % n];
    const d2 = segmentDistance2(x, y, ax, ay, bx, by);
    if (!best || d2 < best.d2) {
      const dx = bx - ax;
      const dy = by - ay;
      const len2 = dx * dx + dy * dy;
      const t = len2 ? Math.max(0, Math.min(1, ((x - ax) * dx + (y - ay) * dy) / len2)) : 0;
      best = { index: i, d2, x: ax + t * dx, y: ay + t * dy };
    }
  }
  return best;
}

/** [x0, y0, x1, y1] of a list of [x, y, ...] points (skipping those `skip` rejects). */
export function pointsBounds(points, skip) {
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (const p of points) {
    if (skip && skip(p)) continue;
    if (p[0] < x0) x0 = p[0];
    if (p[1] < y0) y0 = p[1];
    if (p[0] > x1) x1 = p[0];
    if (p[1] > y1) y1 = p[1];
  }
  return x0 === Infinity ? null : [x0, y0, x1, y1];
}

/** Twice-signed area measure (shoelace); its sign tells the winding, which is all the renderer needs. */
export function signedArea(ring) {
  let a = 0;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) a += (ring[j][0] - ring[i][0]) * (ring[j][1] + ring[i][1]);
  return a / 2;
}

export const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
