// Image <-> screen mapping: screen = image * scale + (tx, ty), in CSS pixels of the canvas.

export class Viewport {
  constructor() {
    this.scale = 1;
    this.tx = 0;
    this.ty = 0;
    this.width = 1; // canvas size in CSS pixels
    this.height = 1;
    this.minScale = 0.01;
    this.maxScale = 64;
    this.revision = 0; // bumped on every change, so the renderer knows when to redraw
  }

  toScreen(x, y) {
    return [x * this.scale + this.tx, y * this.scale + this.ty];
  }

  toImage(sx, sy) {
    return [(sx - this.tx) / this.scale, (sy - this.ty) / this.scale];
  }

  /** The image rectangle [x0, y0, x1, y1] the canvas shows. */
  visibleRect() {
    const [x0, y0] = this.toImage(0, 0);
    const [x1, y1] = this.toImage(this.width, this.height);
    return [x0, y0, x1, y1];
  }

  resize(width, height) {
    if (width === this.width && height === this.height) return false;
    this.width = width;
    this.height = height;
    this.revision++;
    return true;
  }

  set(scale, tx, ty) {
    this.scale = Math.min(this.maxScale, Math.max(this.minScale, scale));
    this.tx = tx;
    this.ty = ty;
    this.revision++;
  }

  /** Show the whole w x h image, centred, with a small margin. */
  fit(w, h, margin = 16) {
    const scale = Math.min((this.width - 2 * margin) / w, (this.height - 2 * margin) / h);
    this.minScale = Math.min(scale / 4, 0.5);
    const s = Math.max(scale, 1e-3);
    this.set(s, (this.width - w * s) / 2, (this.height - h * s) / 2);
  }

  /** 1:1 (one image pixel per CSS pixel) around the centre of the canvas. */
  actualSize() {
    this.zoomAt(this.width / 2, this.height / 2, 1 / this.scale);
  }

  /** Multiply the scale by `factor` keeping the image point under (sx, sy) where it is. */
  zoomAt(sx, sy, factor) {
    const [ix, iy] = this.toImage(sx, sy);
    const scale = Math.min(this.maxScale, Math.max(this.minScale, this.scale * factor));
    this.set(scale, sx - ix * scale, sy - iy * scale);
  }

  pan(dx, dy) {
    this.set(this.scale, this.tx + dx, this.ty + dy);
  }

  /** Centre the image point (x, y) on the canvas. */
  centerOn(x, y) {
    this.set(this.scale, this.width / 2 - x * this.scale, this.height / 2 - y * this.scale);
  }
}
