// Large images as server-made tile pyramids: only the tiles in view, at the level matching the zoom, are
// fetched and decoded (an 8k x 8k image would otherwise be 256 MiB of decoded pixels before the first
// frame). The one-tile top level is drawn first as a backdrop, so panning never shows holes, only blur.

/** Images above this many pixels (or wider/taller than MAX_SIDE) are shown from tiles. */
export const TILED_PIXELS = 24e6;
export const MAX_SIDE = 8192;
const CACHE_TILES = 160; // about 160 MiB of decoded 512 px tiles at most
const PARALLEL = 6;

export function wantsTiles(width, height) {
  return width * height > TILED_PIXELS || Math.max(width, height) > MAX_SIDE;
}

export class TiledImage {
  /** `layout`: the server's {tile_size, width, height, levels: [{level, scale, width, height, columns, rows}]}. */
  constructor(layout, tileUrl) {
    this.tiled = true;
    this.layout = layout;
    this.tileUrl = tileUrl; // (level, column, row) => URL
    this.cache = new Map(); // "level/col/row" -> ImageBitmap, in least-recently-used order
    this.loading = new Set();
    this.queue = [];
    this.onTile = null; // called when a tile arrives (the renderer asks for a frame)
    this.overview = null;
    this.failed = 0;
  }

  /** Fetch the top level (one tile) before the first frame. */
  async ready() {
    const top = this.layout.levels[this.layout.levels.length - 1];
    this.overview = await this._fetch(top.level, 0, 0);
    return this;
  }

  async _fetch(level, column, row) {
    const response = await fetch(this.tileUrl(level, column, row), { credentials: "same-origin" });
    if (!response.ok) throw new Error(`tile ${level}/${column}/${row}: HTTP ${response.status}`);
    return createImageBitmap(await response.blob());
  }

  /** The level whose pixels are at least as fine as the screen's at `scale`, and no finer. */
  levelFor(scale) {
    let best = this.layout.levels[0];
    for (const level of this.layout.levels) if (level.scale >= scale) best = level;
    return best;
  }

  _pump() {
    while (this.loading.size < PARALLEL && this.queue.length) {
      const [key, level, column, row] = this.queue.shift();
      if (this.cache.has(key) || this.loading.has(key)) continue;
      this.loading.add(key);
      this._fetch(level, column, row)
        .then((bitmap) => {
          this.cache.set(key, bitmap);
          while (this.cache.size > CACHE_TILES) {
            const [old, oldBitmap] = this.cache.entries().next().value;
            this.cache.delete(old);
            oldBitmap.close();
          }
          if (this.onTile) this.onTile();
        })
        .catch(() => { this.failed++; })
        .finally(() => { this.loading.delete(key); this._pump(); });
    }
  }

  /** Draw what is in view of viewport `vp` (image width `w`, height `h`); missing tiles are requested. */
  draw(ctx, vp, w, h) {
    const s = vp.scale;
    if (this.overview) ctx.drawImage(this.overview, vp.tx, vp.ty, w * s, h * s);
    const info = this.levelFor(s);
    if (info.level === this.layout.levels.length - 1) return; // the backdrop is this level
    const size = this.layout.tile_size;
    const x0 = Math.max(0, -vp.tx / s), y0 = Math.max(0, -vp.ty / s);
    const x1 = Math.min(w, (vp.width - vp.tx) / s), y1 = Math.min(h, (vp.height - vp.ty) / s);
    if (x1 <= x0 || y1 <= y0) return;
    const per = size / info.scale; // image pixels per tile side at this level
    const c0 = Math.floor(x0 / per), c1 = Math.min(info.columns - 1, Math.floor(x1 / per));
    const r0 = Math.floor(y0 / per), r1 = Math.min(info.rows - 1, Math.floor(y1 / per));
    const wanted = [];
    for (let row = r0; row <= r1; row++) {
      for (let column = c0; column <= c1; column++) {
        const key = `${info.level}/${column}/${row}`;
        const bitmap = this.cache.get(key);
        if (bitmap) {
          this.cache.delete(key); // most recently used goes last
          this.cache.set(key, bitmap);
          const ix = column * per, iy = row * per;
          ctx.drawImage(bitmap, vp.tx + ix * s, vp.ty + iy * s, (bitmap.width / info.scale) * s, (bitmap.height / info.scale) * s);
        } else if (!this.loading.has(key)) {
          wanted.push([key, info.level, column, row]);
        }
      }
    }
    if (wanted.length) {
      // the newest view first: tiles requested for views already left wait behind it
      const cx = (x0 + x1) / 2 / per, cy = (y0 + y1) / 2 / per;
      wanted.sort((a, b) => Math.hypot(a[2] - cx, a[3] - cy) - Math.hypot(b[2] - cx, b[3] - cy));
      this.queue = wanted.concat(this.queue.filter((q) => !wanted.some((x) => x[0] === q[0]))).slice(0, 64);
      this._pump();
    }
  }

  /** Tiles of this level in view that are not decoded yet (for tests and the loading indicator). */
  get pending() {
    return this.loading.size + this.queue.length;
  }
}
