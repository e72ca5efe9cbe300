// Conversions between polygons and masks, in the browser, in COCO's continuous pixel coordinates (pixel
// (row, col) covers [col, col + 1] x [row, row + 1]).
// - polygon -> mask: a pixel is set when its centre is inside the polygon (a part's exterior minus its
//   holes, even-odd per part, parts united), by scanlines through the pixel centres.
// - mask -> polygon: the pixel edges between set and unset pixels, chained into rings (outer boundaries
//   clockwise on screen, holes counter-clockwise; diagonal neighbours are separate parts), each hole given
//   to the part whose pixels it borders, then simplified (Douglas-Peucker) within a tolerance in pixels.
// With tolerance 0 the two are exact inverses: mask -> polygon -> mask gives the same pixels back.
import { signedArea } from "./shapes/geom.js";

/** Rings of a polygon part (exterior first, then holes) scaled by `scale` (for reduced-resolution rasters). */
function partRings(part, scale) {
  const rings = [part.exterior, ...part.holes];
  return scale === 1 ? rings : rings.map((r) => r.map(([x, y]) => [x * scale, y * scale]));
}

/**
 * Set `data[row * width + col] = value` for every pixel whose centre is inside the polygon geometry `g`
 * (coordinates multiplied by `scale` first). Returns `data`. Scanlines keep an active edge list, so the
 * cost grows with the edges and the rows covered, not their product.
 */
export function fillPolygon(g, data, width, height, value = 1, scale = 1) {
  for (const part of g.parts) {
    const rings = partRings(part, scale).filter((r) => r.length >= 3);
    if (!rings.length) continue;
    // Each edge crosses the pixel-centre rows first..last; x at a row is x0 + (row - first) * step.
    const edges = [];
    let rowStart = height;
    let rowEnd = -1;
    for (const ring of rings) {
      for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
        let [xa, ya] = ring[j];
        let [xb, yb] = ring[i];
        if (ya === yb) continue;
        if (ya > yb) [xa, ya, xb, yb] = [xb, yb, xa, ya];
        const first = Math.max(0, Math.ceil(ya - 0.5));
        const last = Math.min(height - 1, Math.ceil(yb - 0.5) - 1); // centres in [ya, yb)
        if (last < first) continue;
        const step = (xb - xa) / (yb - ya);
        edges.push({ first, last, x: xa + (first + 0.5 - ya) * step, step });
        if (first < rowStart) rowStart = first;
        if (last > rowEnd) rowEnd = last;
      }
    }
    edges.sort((e, f) => e.first - f.first);
    let active = [];
    let next = 0;
    const xs = [];
    for (let row = rowStart; row <= rowEnd; row++) {
      while (next < edges.length && edges[next].first === row) active.push(edges[next++]);
      if (!active.length) {
        if (next < edges.length) row = edges[next].first - 1;
        continue;
      }
      xs.length = 0;
      for (const e of active) xs.push(e.x + (row - e.first) * e.step);
      xs.sort((u, v) => u - v);
      const base = row * width;
      for (let k = 0; k + 1 < xs.length; k += 2) {
        const c0 = Math.max(0, Math.ceil(xs[k] - 0.5));
        const c1 = Math.min(width - 1, Math.ceil(xs[k + 1] - 0.5) - 1);
        for (let col = c0; col <= c1; col++) data[base + col] = value;
      }
      active = active.filter((e) => e.last > row);
    }
  }
  return data;
}

/** A row-major 0/1 raster (height x width) of the polygon geometry `g`. */
export function polygonToRaster(g, width, height) {
  return fillPolygon(g, new Uint8Array(width * height), width, height);
}

// Directions along pixel edges: 0 east (+x), 1 south (+y), 2 west, 3 north. Turning right (on screen, y
// down) is +1.
const DX = [1, 0, -1, 0];
const DY = [0, 1, 0, -1];

/**
 * The boundary rings of the set pixels of a row-major raster, as closed rings of corner points (no
 * repeated first point), outer rings clockwise on screen (positive shoelace area with y down), holes
 * counter-clockwise. Only the window [x0, y0, x1, y1) is scanned (the raster's set pixels must be in it).
 */
export function traceRings(data, width, height, bbox = [0, 0, width, height]) {
  const [x0, y0, x1, y1] = bbox;
  const stride = width + 1; // vertex (x, y) -> y * stride + x
  const out = new Map(); // vertex -> outgoing directions bitmask (bit d), at most two at a saddle
  const addEdge = (x, y, d) => {
    const v = y * stride + x;
    out.set(v, (out.get(v) || 0) | (1 << d));
  };
  // Foreground stays on the right of the direction of travel: top edges go east, right edges south...
  for (let y = y0; y < y1; y++) {
    const row = y * width;
    for (let x = x0; x < x1; x++) {
      const q = row + x;
      if (!data[q]) continue;
      if (y === 0 || !data[q - width]) addEdge(x, y, 0);
      if (x === width - 1 || !data[q + 1]) addEdge(x + 1, y, 1);
      if (y === height - 1 || !data[q + width]) addEdge(x + 1, y + 1, 2);
      if (x === 0 || !data[q - 1]) addEdge(x, y + 1, 3);
    }
  }
  const rings = [];
  for (const start of out.keys()) {
    let bits;
    while ((bits = out.get(start))) rings.push(walk(out, start, 31 - Math.clz32(bits & -bits), stride));
  }
  return rings.filter((r) => r.length >= 4);
}

/** The next edge out of a vertex with outgoing edges `mask`, arriving in direction `d`. */
function turn(mask, d) {
  // Prefer turning right, then straight, then left: around a saddle this keeps to the current pixel, so
  // pixels touching only at a corner end up in different rings.
  for (const t of [1, 0, 3]) if (mask & (1 << ((d + t) & 3))) return (d + t) & 3;
  return 31 - Math.clz32(mask & -mask);
}

/** Follow the ring that leaves vertex `start` in direction `d0`, using up its edges; returns its corners. */
function walk(out, start, d0, stride) {
  let x = start % stride;
  let y = (start - x) / stride;
  const ring = [[x, y]];
  let d = d0;
  let v = start;
  for (;;) {
    out.set(v, out.get(v) & ~(1 << d));
    x += DX[d];
    y += DY[d];
    v = y * stride + x;
    const mask = out.get(v) || 0;
    // Back at the start: the ring closes where the rule would take its first edge again.
    if (v === start && turn(mask | (1 << d0), d) === d0) {
      if (d === d0) ring.shift(); // the walk goes straight through the start: not a corner
      return ring;
    }
    if (!mask) return ring; // cannot happen on a consistent edge set; stop rather than loop
    const next = turn(mask, d);
    if (next !== d) ring.push([x, y]);
    d = next;
  }
}

/** Perpendicular squared distance from p to the line through a and b (to a when a == b). */
function lineDistance2(p, a, b) {
  const dx = b[0] - a[0];
  const dy = b[1] - a[1];
  const len2 = dx * dx + dy * dy;
  if (!len2) return (p[0] - a[0]) ** 2 + (p[1] - a[1]) ** 2;
  const cross = (p[0] - a[0]) * dy - (p[1] - a[1]) * dx;
  return (cross * cross) / len2;
}

/** Douglas-Peucker on the open path points[i..j], keeping the ends; marks kept indices in `keep`. */
function simplifyRange(points, i, j, tol2, keep) {
  const stack = [[i, j]];
  while (stack.length) {
    const [a, b] = stack.pop();
    let worst = -1;
    let worstD = tol2;
    for (let k = a + 1; k < b; k++) {
      const d = lineDistance2(points[k], points[a], points[b]);
      if (d > worstD) {
        worst = k;
        worstD = d;
      }
    }
    if (worst >= 0) {
      keep[worst] = 1;
      stack.push([a, worst], [worst, b]);
    }
  }
}

/** A closed ring simplified so no dropped vertex is farther than `tolerance` from the result. */
export function simplifyRing(ring, tolerance) {
  if (tolerance <= 0 || ring.length <= 4) return ring;
  // Split at the vertex farthest from the first one, so both halves are open paths with fixed ends.
  let far = 0;
  let farD = -1;
  for (let k = 1; k < ring.length; k++) {
    const d = (ring[k][0] - ring[0][0]) ** 2 + (ring[k][1] - ring[0][1]) ** 2;
    if (d > farD) {
      far = k;
      farD = d;
    }
  }
  const closed = [...ring, ring[0]];
  const keep = new Uint8Array(closed.length);
  keep[0] = keep[far] = keep[closed.length - 1] = 1;
  const tol2 = tolerance * tolerance;
  simplifyRange(closed, 0, far, tol2, keep);
  simplifyRange(closed, far, closed.length - 1, tol2, keep);
  const out = [];
  for (let k = 0; k < ring.length; k++) if (keep[k]) out.push(ring[k]);
  return out;
}

/** 4-connected components of the set pixels inside `bbox`: a label per pixel (0 for unset). */
function components(data, width, bbox) {
  const [x0, y0, x1, y1] = bbox;
  const labels = new Int32Array(data.length);
  let stack = new Int32Array(1024);
  let count = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const seed = y * width + x;
      if (!data[seed] || labels[seed]) continue;
      labels[seed] = ++count;
      let top = 0;
      stack[top++] = seed;
      while (top) {
        const q = stack[--top];
        const qx = q % width;
        if (top + 4 > stack.length) {
          const grown = new Int32Array(stack.length * 2);
          grown.set(stack);
          stack = grown;
        }
        // Neighbours inside the window: right, left, down, up.
        if (qx + 1 < x1 && data[q + 1] && !labels[q + 1]) (labels[q + 1] = count), (stack[top++] = q + 1);
        if (qx > x0 && data[q - 1] && !labels[q - 1]) (labels[q - 1] = count), (stack[top++] = q - 1);
        if (q + width < y1 * width && data[q + width] && !labels[q + width]) (labels[q + width] = count), (stack[top++] = q + width);
        if (q - width >= y0 * width && data[q - width] && !labels[q - width]) (labels[q - width] = count), (stack[top++] = q - width);
      }
    }
  }
  return labels;
}

/** The set pixel on the right of a ring's first edge (a pixel of the part it bounds), as an index. */
function pixelBeside(ring, width) {
  const [ax, ay] = ring[0];
  const [bx, by] = ring[1];
  const dx = Math.sign(bx - ax);
  const dy = Math.sign(by - ay);
  // Right of travel with y down is (-dy, dx); the pixel's centre is half a pixel along and half a pixel in.
  const cx = ax + dx * 0.5 - dy * 0.5;
  const cy = ay + dy * 0.5 + dx * 0.5;
  return Math.floor(cy) * width + Math.floor(cx);
}

/**
 * A polygon geometry {parts: [{exterior, holes}]} outlining the set pixels of a raster, simplified within
 * `tolerance` pixels. Rings that simplify to under 3 vertices (or to no area) are dropped. Returns null when
 * nothing is left.
 */
export function rasterToPolygon(data, width, height, { tolerance = 0.5, bbox } = {}) {
  if (bbox === null) return null;
  const window = bbox || [0, 0, width, height];
  const traced = traceRings(data, width, height, window);
  // Every ring borders the pixels of one 4-connected component: one exterior per component, and its holes.
  const labels = components(data, width, window);
  const parts = new Map(); // component label -> {exterior, holes}
  const holes = [];
  for (const ring of traced) {
    const label = labels[pixelBeside(ring, width)];
    if (signedArea(ring) > 0) parts.set(label, { exterior: ring, holes: [] }); // clockwise on screen: outer
    else holes.push([label, ring]);
  }
  for (const [label, ring] of holes) parts.get(label)?.holes.push(ring);
  const minArea = Math.max(tolerance * tolerance, 1e-9);
  const keepRing = (ring) => {
    const simple = simplifyRing(ring, tolerance);
    return simple.length >= 3 && Math.abs(signedArea(simple)) >= minArea ? simple : null;
  };
  const out = [];
  for (const p of parts.values()) {
    const exterior = keepRing(p.exterior);
    if (!exterior) continue;
    out.push({ exterior, holes: p.holes.map(keepRing).filter(Boolean) });
  }
  return out.length ? { parts: out } : null;
}
