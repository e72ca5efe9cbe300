// Path building in screen space with level of detail: vertices closer than 1.5 screen pixels to the last
// one drawn are skipped, and shapes under two pixels become a dot. This keeps 5,000 polygons of 50 vertices
// cheap when the whole image is on screen. Each adder returns how many points it put in the path, which is
// what the object layer budgets per frame.
import { signedArea } from "../shapes/geom.js";

const MIN_STEP2 = 1.5 * 1.5;
const areaCache = new WeakMap();

function ringSign(ring) {
  let s = areaCache.get(ring);
  if (s === undefined) {
    s = Math.sign(signedArea(ring));
    areaCache.set(ring, s);
  }
  return s;
}

/** Add `ring` to the current path; `reverse` walks it backwards (holes wind against their exterior). */
export function addRing(ctx, ring, view, closed, reverse = false) {
  const { scale: s, tx, ty } = view;
  const n = ring.length;
  if (!n) return;
  let p = ring[reverse ? n - 1 : 0];
  let lx = p[0] * s + tx;
  let ly = p[1] * s + ty;
  let emitted = 1;
  ctx.moveTo(lx, ly);
  for (let i = 1; i < n; i++) {
    p = ring[reverse ? n - 1 - i : i];
    const sx = p[0] * s + tx;
    const sy = p[1] * s + ty;
    if (i < n - 1 && (sx - lx) * (sx - lx) + (sy - ly) * (sy - ly) < MIN_STEP2) continue;
    ctx.lineTo(sx, sy);
    lx = sx;
    ly = sy;
    emitted++;
  }
  if (closed) ctx.closePath();
  return emitted;
}

/** True when the shape's bounds are under two screen pixels: the caller draws a dot instead. */
export function tiny(bounds, view) {
  return (bounds[2] - bounds[0]) * view.scale < 2 && (bounds[3] - bounds[1]) * view.scale < 2;
}

export function addDot(ctx, bounds, view) {
  const x = ((bounds[0] + bounds[2]) / 2) * view.scale + view.tx;
  const y = ((bounds[1] + bounds[3]) / 2) * view.scale + view.ty;
  ctx.rect(x - 1, y - 1, 2, 2);
  return 4;
}

/** Add a polygon's parts, holes reversed when they wind like their exterior (for the nonzero rule). */
export function addPolygon(ctx, g, view) {
  let emitted = 0;
  for (const part of g.parts) {
    const sign = ringSign(part.exterior);
    emitted += addRing(ctx, part.exterior, view, true);
    for (const hole of part.holes) emitted += addRing(ctx, hole, view, true, ringSign(hole) === sign);
  }
  return emitted;
}
