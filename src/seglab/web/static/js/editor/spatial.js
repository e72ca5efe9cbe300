// A uniform grid over the image for hit testing and visibility: each object is listed in the cells its
// bounding box touches. Updated incrementally: an object is re-indexed only when its geometry changed,
// and lazily: `sync` only notes the objects, the work is done by the next query (or `flush`, which the page
// calls when the browser is idle after the first frame, so loading does not wait for it).
import { boundsOf, geometryOf } from "./shapes/registry.js";

export class SpatialGrid {
  constructor(width, height, cell = Math.max(64, Math.ceil(Math.sqrt((width * height) / 4096)))) {
    this.cell = cell;
    this.cols = Math.max(1, Math.ceil(width / cell));
    this.rows = Math.max(1, Math.ceil(height / cell));
    this.cells = Array.from({ length: this.cols * this.rows }, () => new Set());
    this.entries = new Map(); // id -> {geometry, cells}
    this.pending = null; // objects noted by sync, not indexed yet
  }

  _cellsOf(b) {
    const c0 = Math.max(0, Math.floor(b[0] / this.cell));
    const r0 = Math.max(0, Math.floor(b[1] / this.cell));
    const c1 = Math.min(this.cols - 1, Math.floor(b[2] / this.cell));
    const r1 = Math.min(this.rows - 1, Math.floor(b[3] / this.cell));
    const out = [];
    for (let r = r0; r <= r1; r++) for (let c = c0; c <= c1; c++) out.push(r * this.cols + c);
    return out;
  }

  /** Make the index hold exactly `objects` (by id) before the next query. */
  sync(objects) {
    this.pending = objects;
  }

  /** Bring the index up to date with the objects of the last `sync`. */
  flush() {
    const objects = this.pending;
    if (!objects) return;
    this.pending = null;
    const seen = new Set();
    for (const obj of objects) {
      seen.add(obj.id);
      const g = geometryOf(obj);
      const entry = this.entries.get(obj.id);
      if (entry && entry.geometry === g) continue;
      if (entry) for (const c of entry.cells) this.cells[c].delete(obj.id);
      const cells = this._cellsOf(boundsOf(obj));
      for (const c of cells) this.cells[c].add(obj.id);
      this.entries.set(obj.id, { geometry: g, cells });
    }
    for (const [id, entry] of this.entries) {
      if (seen.has(id)) continue;
      for (const c of entry.cells) this.cells[c].delete(id);
      this.entries.delete(id);
    }
  }

  /** Ids of objects whose bounding boxes may meet the rectangle [x0, y0, x1, y1]. */
  query(x0, y0, x1, y1) {
    this.flush();
    const out = new Set();
    for (const c of this._cellsOf([x0, y0, x1, y1])) for (const id of this.cells[c]) out.add(id);
    return out;
  }

  queryPoint(x, y, tol = 0) {
    return this.query(x - tol, y - tol, x + tol, y + tol);
  }
}
