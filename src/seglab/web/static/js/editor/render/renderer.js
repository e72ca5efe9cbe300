// Frames on demand: the image (from the pyramid level nearest the zoom), the object layer, then the live
// overlay (selected object, the server's copy during a conflict, and the active tool's own drawing).
import { drawObject } from "./kinds.js";
import { ObjectLayer } from "./layer.js";
import { PanopticOverlay } from "./panoptic.js";
import { pickLevel } from "./pyramid.js";
import { THEIRS, styleFor } from "./style.js";

export class Renderer {
  constructor(canvas, editor) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.editor = editor;
    this.layer = new ObjectLayer();
    this.panoptic = new PanopticOverlay();
    this.pyramid = null;
    this.pending = 0;
    this.stats = { frames: 0, lastMs: 0 };
    editor.renderer = this;
    this._frame = (t) => this.frame(t);
  }

  setImage(pyramid) {
    this.pyramid = pyramid;
    if (pyramid.tiled) pyramid.onTile = () => this.request();
    if (pyramid.done) pyramid.done.then(() => this.request(), () => {}); // sharper, cheaper levels arrive later
    this.request();
  }

  request() {
    if (!this.pending) this.pending = requestAnimationFrame(this._frame);
  }

  /** Match the canvas's pixel size to its CSS size; returns the device pixel ratio. */
  _resize() {
    const dpr = window.devicePixelRatio || 1;
    const rect = this.canvas.getBoundingClientRect();
    const w = Math.max(1, Math.round(rect.width));
    const h = Math.max(1, Math.round(rect.height));
    if (this.canvas.width !== Math.round(w * dpr) || this.canvas.height !== Math.round(h * dpr)) {
      this.canvas.width = Math.round(w * dpr);
      this.canvas.height = Math.round(h * dpr);
    }
    this.editor.viewport.resize(w, h);
    return dpr;
  }

  /** Fit the image to the canvas on the next frame (when the canvas's size is known). */
  fit() {
    this.needFit = true;
    this.request();
  }

  frame(now) {
    this.pending = 0;
    const start = performance.now();
    const ed = this.editor;
    const vp = ed.viewport;
    const dpr = this._resize();
    if (this.needFit && vp.width > 1 && vp.height > 1) {
      this.needFit = false;
      vp.fit(ed.width, ed.height);
    }
    const ctx = this.ctx;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = "#0f1115";
    ctx.fillRect(0, 0, vp.width, vp.height);
    const s = vp.scale;
    if (this.pyramid) {
      ctx.imageSmoothingEnabled = s < 2; // past 200 %, show the pixels as squares
      ctx.imageSmoothingQuality = "low";
      const { brightness, contrast } = ed.view;
      if (brightness !== 100 || contrast !== 100) ctx.filter = `brightness(${brightness}%) contrast(${contrast}%)`;
      if (this.pyramid.tiled) this.pyramid.draw(ctx, vp, ed.width, ed.height); // a large image: tiles in view
      else ctx.drawImage(pickLevel(this.pyramid, s).image, vp.tx, vp.ty, ed.width * s, ed.height * s);
      ctx.filter = "none";
      ctx.imageSmoothingEnabled = true;
    } else {
      ctx.strokeStyle = "#374151";
      ctx.strokeRect(vp.tx, vp.ty, ed.width * s, ed.height * s); // no pixels (yet): the image's outline
    }

    let more;
    if (ed.view.panoptic) {
      more = this.panoptic.update(ed, now);
      this.layer.scene = ed;
      this.layer.substitute = (c, v) => this.panoptic.draw(c, v, ed.width, ed.height);
    } else {
      more = this.layer.update(ed, vp, dpr, now);
      this.layer.substitute = null;
    }
    this.layer.alpha = ed.view.opacity;
    this.layer.composite(ctx, vp);

    const sel = ed.selected;
    if (sel && !ed.hidden.has(sel.id) && !ed.suppressSelected) {
      const [dx, dy] = ed.dragOffset || [0, 0];
      ctx.save();
      ctx.translate(dx * s, dy * s); // a move in progress: committed once, on release
      drawObject(ctx, sel, ed.styleOf(sel), vp, ed.classOf(sel), { lineWidth: 2.5 });
      drawObject(ctx, sel, ed.styleOf(sel), vp, ed.classOf(sel), { lineWidth: 1, stroke: "#fff", fill: false, dash: [4, 4] });
      ctx.restore();
    }
    if (ed.ghosts) {
      const ghost = styleFor([244, 114, 182]);
      for (const obj of ed.ghosts) drawObject(ctx, obj, ghost, vp, ed.classOf(obj), { lineWidth: 2, stroke: THEIRS, fill: false, dash: [6, 4] });
    }
    if (ed.tool && ed.tool.drawOverlay) ed.tool.drawOverlay(ctx, vp);
    this.stats.frames++;
    this.stats.lastMs = performance.now() - start;
    if (more) this.request();
    this.editor.dispatchEvent(new CustomEvent("frame"));
  }
}
