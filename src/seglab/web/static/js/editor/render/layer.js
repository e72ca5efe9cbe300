// The object layer: all objects but the selected ones, rasterised into an offscreen canvas a little larger
// than the view. Frames only blit it, shifted and scaled while the user pans and zooms. It is redrawn when
// the objects change, when the visible part of the image is no longer inside it, when its scale is more
// than 2x off, and once the view has been still for a moment (to sharpen it). A redraw goes into a back
// buffer in slices of a bounded number of path points per frame, and is swapped in when done, so a frame
// stays short however many objects there are; it is not restarted because the view moved (only because
// the objects changed), so it always finishes.
import { boundsOf, geometryOf } from "../shapes/registry.js";
import { addObjectPath, renderers } from "./kinds.js";

const MARGIN = 0.25; // of the view's size, on each side
const MAX_RATIO = 2; // how far the layer may be stretched or shrunk while the view moves
const STILL_MS = 120;
const POINTS_PER_FRAME = 6000; // path points drawn per frame while a redraw runs, to start with
const SLICE_MS = 5; // the budget adapts so that a slice (paths and their rasterisation) takes about this long
const MIN_POINTS = 600;
const MAX_POINTS = 40000;
const FIRST_POINTS_PER_FRAME = 60000; // the first drawing after loading: finish soon rather than smoothly
const BATCH = 64; // objects of one style per path
const CROWDED = 1500; // objects in view above which outlines are 1 px: a hairline rasterises several times faster

function makeCanvas() {
  const canvas = document.createElement("canvas");
  return { canvas, ctx: canvas.getContext("2d") };
}

export class ObjectLayer {
  constructor() {
    this.front = null; // {canvas, ctx, view, w, h, revision}: the finished layer and what it was drawn for
    this.spare = makeCanvas();
    this.job = null;
    this.viewRevision = -1;
    this.lastViewChange = 0;
    this.forced = false;
    this.alpha = 1;
    this.substitute = null;
  }

  invalidate() {
    this.forced = true;
  }

  /** Where a layer lands on screen under `vp`: [dx, dy, dw, dh, ratio]. */
  _placement(layer, vp) {
    const r = vp.scale / layer.view.scale;
    return [vp.tx - layer.view.tx * r, vp.ty - layer.view.ty * r, layer.w * r, layer.h * r, r];
  }

  /** Does the layer hold every visible part of the image (the part of the view the image covers)? */
  _covers(layer, vp, imageW, imageH) {
    const [dx, dy, dw, dh] = this._placement(layer, vp);
    const x0 = Math.max(0, vp.tx);
    const y0 = Math.max(0, vp.ty);
    const x1 = Math.min(vp.width, vp.tx + imageW * vp.scale);
    const y1 = Math.min(vp.height, vp.ty + imageH * vp.scale);
    if (x1 <= x0 || y1 <= y0) return true;
    return dx <= x0 + 0.5 && dy <= y0 + 0.5 && dx + dw >= x1 - 0.5 && dy + dh >= y1 - 0.5;
  }

  _start(scene, vp, dpr) {
    const mx = Math.ceil(vp.width * MARGIN);
    const my = Math.ceil(vp.height * MARGIN);
    const w = vp.width + 2 * mx;
    const h = vp.height + 2 * my;
    const target = this.spare;
    if (target.canvas.width !== Math.round(w * dpr) || target.canvas.height !== Math.round(h * dpr)) {
      target.canvas.width = Math.round(w * dpr);
      target.canvas.height = Math.round(h * dpr);
    }
    const ctx = target.ctx;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    ctx.lineJoin = "bevel"; // at 1-1.5 px the joins look alike; round joins rasterise several times slower
    const view = { scale: vp.scale, tx: vp.tx + mx, ty: vp.ty + my };
    const rect = [-view.tx / view.scale, -view.ty / view.scale, (w - view.tx) / view.scale, (h - view.ty) / view.scale];
    const items = scene.layerObjects(rect);
    this.job = { target, view, w, h, items, i: 0, revision: scene.revision, lineWidth: items.length > CROWDED ? 1 : 1.5 };
    this.forced = false;
  }

  /** Draw the running job's next objects, about `budget` path points; runs of one style share a path. */
  _step(scene, budget) {
    const job = this.job;
    const { ctx } = job.target;
    const items = job.items;
    let i = job.i;
    let spent = 0;
    while (i < items.length && spent < budget) {
      const obj = items[i];
      const r = renderers[obj.kind];
      const style = scene.styleOf(obj);
      if (r.draw) {
        r.draw(ctx, geometryOf(obj), style, job.view, scene.classOf(obj));
        spent += 64;
        i++;
        continue;
      }
      ctx.beginPath();
      let j = i;
      while (j < items.length && j - i < BATCH && items[j].kind === obj.kind && scene.styleOf(items[j]) === style) {
        spent += addObjectPath(ctx, obj.kind, geometryOf(items[j]), boundsOf(items[j]), job.view);
        j++;
      }
      if (r.fill) {
        ctx.fillStyle = style.fill;
        ctx.fill();
      }
      ctx.lineWidth = job.lineWidth;
      ctx.strokeStyle = style.stroke;
      ctx.stroke();
      i = j;
    }
    job.i = i;
    // Canvas drawing is recorded and rasterised later, all at once when the layer is first composited:
    // reading a pixel makes this slice's paths rasterise now, inside this frame's budget.
    ctx.getImageData(0, 0, 1, 1);
    if (i < items.length) return;
    this.spare = this.front ? { canvas: this.front.canvas, ctx: this.front.ctx } : makeCanvas();
    this.front = { canvas: job.target.canvas, ctx: job.target.ctx, view: job.view, w: job.w, h: job.h, revision: job.revision };
    this.job = null;
  }

  /**
   * Bring the layer up to date as far as one frame's budget allows. Returns true while more frames are
   * needed (a redraw in progress, or the view still moving, which may call for a sharper redraw).
   */
  update(scene, vp, dpr, now) {
    this.scene = scene;
    if (vp.revision !== this.viewRevision) {
      this.viewRevision = vp.revision;
      this.lastViewChange = now;
    }
    const still = now - this.lastViewChange >= STILL_MS;
    const front = this.front;
    const stale = this.forced || !front || front.revision !== scene.revision;
    if (this.job) {
      if (this.job.revision !== scene.revision || this.forced) this._start(scene, vp, dpr);
    } else if (stale) {
      this._start(scene, vp, dpr);
    } else {
      const ratio = vp.scale / front.view.scale;
      const outOfBand = ratio > MAX_RATIO || ratio < 1 / MAX_RATIO;
      const uncovered = !this._covers(front, vp, scene.width, scene.height);
      if (outOfBand || uncovered || (still && ratio !== 1)) this._start(scene, vp, dpr);
    }
    if (this.job && !this.front) this._step(scene, FIRST_POINTS_PER_FRAME);
    else if (this.job) {
      const t0 = performance.now();
      const budget = this.pointsPerFrame || POINTS_PER_FRAME;
      this._step(scene, budget);
      const ms = Math.max(0.25, performance.now() - t0);
      const next = budget * Math.min(2, Math.max(0.25, SLICE_MS / ms)); // steer toward SLICE_MS, gently
      this.pointsPerFrame = Math.round(Math.min(MAX_POINTS, Math.max(MIN_POINTS, next)));
    }
    return Boolean(this.job) || !still;
  }

  composite(ctx, vp) {
    const overlays = (this.scene && this.scene.overlays) || { under: [], over: [] };
    for (const draw of overlays.under) draw(ctx, vp);
    ctx.globalAlpha = this.alpha; // the segmentation overlay's opacity
    if (this.substitute) this.substitute(ctx, vp); // another drawing of the objects (the panoptic view)
    else if (this.front) {
      const [dx, dy, dw, dh] = this._placement(this.front, vp);
      ctx.drawImage(this.front.canvas, dx, dy, dw, dh);
    }
    ctx.globalAlpha = 1;
    for (const draw of overlays.over) draw(ctx, vp);
  }
}
