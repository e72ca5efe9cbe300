// The editor's state: the document, the view, selection, per-object visibility and locks, the current class
// and tool. It is also the "scene" the renderer asks what to draw, and the API that tools and editors use.
import { Doc } from "./document.js";
import { SpatialGrid } from "./spatial.js";
import { Viewport } from "./viewport.js";
import { styleFor } from "./render/style.js";
import { boundsOf, geometryOf, shapes } from "./shapes/registry.js";
import { clamp } from "./shapes/geom.js";

const UNKNOWN = { name: "?", color: [160, 160, 160], shapes: [], attributes: [], skeleton: null };

export class Editor extends EventTarget {
  constructor({ image, ontology, objects = [], readOnly = false }) {
    super();
    this.image = image; // the API's image record: width, height, file_name, status...
    this.width = image.width;
    this.height = image.height;
    this.readOnly = readOnly;
    this.doc = new Doc(objects);
    this.viewport = new Viewport();
    this.index = new SpatialGrid(this.width, this.height);
    this.index.sync(objects);
    this.selectedId = null;
    this.activeVertex = null; // editor-specific reference to a vertex of the selected object
    this.hidden = new Set();
    this.locked = new Set();
    this.uiRevision = 0;
    this.cursor = null; // image point under the pointer
    this.ghosts = null; // objects drawn dashed on top (the server's copy during a conflict)
    this.view = { opacity: 1, brightness: 100, contrast: 100, panoptic: false }; // display only, never saved
    this.overlays = { under: [], over: [] }; // (ctx, viewport) drawings below / above the objects (predictions)
    this.setOntology(ontology);
    this.currentClass = this.classes[0] ? this.classes[0].name : null;
    this.tools = new Map();
    this.tool = null;
    this.renderer = null;
    const onChange = () => {
      this.index.sync(this.doc.objects);
      if (this.selectedId !== null && !this.doc.get(this.selectedId)) this.select(null);
      this.requestRender();
    };
    this.doc.addEventListener("change", onChange);
    this.doc.addEventListener("preview", onChange);
  }

  setOntology(ontology) {
    this.ontology = ontology;
    this.classes = ontology.classes;
    this.classByName = new Map(this.classes.map((c, i) => [c.name, { ...c, index: i }]));
  }

  // ---------------------------------------------------------------------------------- scene (renderer)

  get revision() {
    return `${this.doc.revision}:${this.uiRevision}`;
  }

  classOf(obj) {
    return this.classByName.get(obj.label) || UNKNOWN;
  }

  styleOf(obj) {
    return styleFor(this.classOf(obj).color);
  }

  /** Draw order: z_order, then class (so runs of one class batch), then id. Later is on top. */
  compare(a, b) {
    return a.z_order - b.z_order || (this.classOf(a).index ?? -1) - (this.classOf(b).index ?? -1) || a.id - b.id;
  }

  ordered(objects = this.doc.objects) {
    return [...objects].sort((a, b) => this.compare(a, b));
  }

  /** All objects in draw order, sorted once per change of the objects. */
  drawOrder() {
    if (this._orderOf !== this.doc.objects) {
      this._orderOf = this.doc.objects;
      this._order = this.ordered();
    }
    return this._order;
  }

  /** Objects for the object layer in the image rectangle: visible, not selected, in draw order. */
  layerObjects(rect) {
    const all = rect[0] <= 0 && rect[1] <= 0 && rect[2] >= this.width && rect[3] >= this.height;
    const ids = all ? null : this.index.query(...rect);
    return this.drawOrder().filter((o) => (all || ids.has(o.id)) && o.id !== this.selectedId && !this.hidden.has(o.id));
  }

  touchUi() {
    this.uiRevision++;
    this.requestRender();
  }

  requestRender() {
    if (this.renderer) this.renderer.request();
  }

  // ------------------------------------------------------------------------------------ hit testing

  /** Screen pixels as image distance at the current zoom. */
  tol(px = 6) {
    return px / this.viewport.scale;
  }

  /** The topmost visible, unlocked object under image point (x, y), or null. */
  hitTest(x, y) {
    const tol = this.tol(4);
    const candidates = [...this.index.queryPoint(x, y, tol)]
      .map((id) => this.doc.get(id))
      .filter((o) => o && !this.hidden.has(o.id) && !this.locked.has(o.id))
      .sort((a, b) => this.compare(b, a));
    if (this.selectedId !== null) {
      const sel = candidates.find((o) => o.id === this.selectedId); // the selection is drawn on top
      if (sel) candidates.splice(candidates.indexOf(sel), 1), candidates.unshift(sel);
    }
    for (const obj of candidates) {
      const edges = obj.kind === "keypoints" ? (this.classOf(obj).skeleton || {}).edges : undefined;
      if (shapes[obj.kind].hit(geometryOf(obj), x, y, tol, edges)) return obj;
    }
    return null;
  }

  // ------------------------------------------------------------------------------- selection, tools

  get selected() {
    return this.selectedId === null ? null : this.doc.get(this.selectedId) || null;
  }

  select(id, vertex = null) {
    if (id === this.selectedId && vertex === this.activeVertex) return;
    this.selectedId = id;
    this.activeVertex = vertex;
    this.touchUi();
    this.dispatchEvent(new CustomEvent("selection"));
  }

  setVertex(vertex) {
    this.activeVertex = vertex;
    this.requestRender();
    this.dispatchEvent(new CustomEvent("selection"));
  }

  registerTool(tool) {
    this.tools.set(tool.name, tool);
  }

  setTool(name) {
    const next = this.tools.get(name);
    if (!next || (this.readOnly && name !== "select")) return;
    if (this.tool && this.tool.cancel) this.tool.cancel();
    this.tool = next;
    if (next.kind && !this.classAllows(this.currentClass, next.kind)) {
      const fit = this.classes.find((c) => this.classAllows(c.name, next.kind));
      if (fit) this.currentClass = fit.name;
    }
    if (next.activate) next.activate();
    this.dispatchEvent(new CustomEvent("tool"));
    this.dispatchEvent(new CustomEvent("class"));
    this.requestRender();
  }

  classAllows(name, kind) {
    const cls = this.classByName.get(name);
    if (!cls) return false;
    if (kind === "keypoints" && !(cls.skeleton && cls.skeleton.points.length)) return false;
    return !cls.shapes.length || cls.shapes.includes(kind);
  }

  setClass(name) {
    if (!this.classByName.has(name)) return;
    this.currentClass = name;
    this.dispatchEvent(new CustomEvent("class"));
    const sel = this.selected;
    if (sel && this.tool && this.tool.name === "select" && sel.label !== name) this.relabel(sel.id, name);
    this.requestRender();
  }

  /** Change display settings (overlay opacity, brightness / contrast in %, the panoptic view). */
  setView(patch) {
    Object.assign(this.view, patch);
    this.requestRender();
    this.dispatchEvent(new CustomEvent("view"));
  }

  setHint(text) {
    this.dispatchEvent(new CustomEvent("hint", { detail: text }));
  }

  // ---------------------------------------------------------------------------------------- edits

  canEdit(obj) {
    return !this.readOnly && obj && !this.locked.has(obj.id);
  }

  clampPoint([x, y]) {
    return [clamp(x, 0, this.width), clamp(y, 0, this.height)];
  }

  defaultAttributes(label) {
    const out = {};
    for (const a of this.classOf({ label }).attributes || []) if (a.default !== null && a.default !== undefined) out[a.name] = a.default;
    return out;
  }

  /** A new object of the current class (plain data in the API's annotation layout). */
  makeObject(kind, geometry, label = this.currentClass) {
    return {
      id: this.doc.newId(), label, kind, [kind]: geometry, attributes: this.defaultAttributes(label), source: "human",
      score: null, uncertainty: null, z_order: 0, group_id: null, track_id: null, crowd: false, extra: {},
    };
  }

  addObject(kind, geometry) {
    if (this.readOnly) return null;
    if (!this.classAllows(this.currentClass, kind)) {
      this.setHint(`Pick a class that allows ${kind} first.`);
      return null;
    }
    const obj = this.makeObject(kind, geometry);
    this.doc.add(obj, `add ${kind}`);
    this.select(obj.id);
    return obj;
  }

  relabel(id, label) {
    const obj = this.doc.get(id);
    if (!this.canEdit(obj)) return;
    if (!this.classAllows(label, obj.kind)) {
      this.setHint(`Class "${label}" does not allow ${obj.kind}.`);
      return;
    }
    if (obj.kind === "keypoints" && this.classByName.get(label).skeleton.points.length !== obj.keypoints.points.length) {
      this.setHint(`The skeleton of "${label}" has a different number of points.`);
      return;
    }
    const allowed = new Set((this.classByName.get(label).attributes || []).map((a) => a.name));
    const attributes = Object.fromEntries(Object.entries(obj.attributes || {}).filter(([k]) => allowed.has(k)));
    this.doc.update(id, (o) => ({ ...o, label, attributes: { ...this.defaultAttributes(label), ...attributes } }), "change class");
  }

  deleteObject(id) {
    const obj = this.doc.get(id);
    if (!this.canEdit(obj)) return;
    this.doc.remove(id);
  }

  /** Move the object one step up (+1) or down (-1) in the drawing order. */
  shiftZ(id, step) {
    const obj = this.doc.get(id);
    if (!this.canEdit(obj)) return;
    this.doc.update(id, (o) => ({ ...o, z_order: o.z_order + step }), step > 0 ? "bring forward" : "send backward");
  }

  toggleHidden(id) {
    if (this.hidden.has(id)) this.hidden.delete(id);
    else this.hidden.add(id);
    if (this.hidden.has(id) && this.selectedId === id) this.select(null);
    this.touchUi();
    this.dispatchEvent(new CustomEvent("visibility"));
  }

  toggleLocked(id) {
    if (this.locked.has(id)) this.locked.delete(id);
    else this.locked.add(id);
    this.touchUi();
    this.dispatchEvent(new CustomEvent("visibility"));
  }

  /** Centre the view on an object when it is off screen. */
  reveal(id) {
    const obj = this.doc.get(id);
    if (!obj) return;
    const [x0, y0, x1, y1] = boundsOf(obj);
    const [vx0, vy0, vx1, vy1] = this.viewport.visibleRect();
    if (x1 < vx0 || x0 > vx1 || y1 < vy0 || y0 > vy1) {
      this.viewport.centerOn((x0 + x1) / 2, (y0 + y1) / 2);
      this.requestRender();
    }
  }
}
