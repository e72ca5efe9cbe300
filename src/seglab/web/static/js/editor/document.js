// The editor's document: the image's objects as plain data (mirroring the API's annotations) with undo and
// redo. Every edit replaces the array (and the changed objects) instead of mutating, so the previous array
// is the undo entry and unchanged objects are shared between entries.

const MAX_UNDO = 300;

export class Doc extends EventTarget {
  constructor(objects = []) {
    super();
    this.objects = objects;
    this.past = [];
    this.future = [];
    this.revision = 0; // counts every committed change (undo and redo included)
    this.nextLocalId = -1; // new objects get negative ids until the server numbers them
    this._base = null;
    this._index = null;
  }

  newId() {
    return this.nextLocalId--;
  }

  get(id) {
    if (!this._index) this._index = new Map(this.objects.map((o) => [o.id, o]));
    return this._index.get(id);
  }

  _set(objects, reason) {
    this.objects = objects;
    this._index = null;
    this.revision++;
    this.dispatchEvent(new CustomEvent("change", { detail: { reason } }));
  }

  /** Replace the objects as one undoable step. */
  commit(objects, reason = "edit") {
    if (objects === this.objects) return;
    this.past.push(this._base || this.objects);
    if (this.past.length > MAX_UNDO) this.past.shift();
    this.future = [];
    this._base = null;
    this._set(objects, reason);
  }

  /** Start a gesture (a drag): previews change the objects without undo entries until `end`. */
  begin() {
    this._base = this.objects;
  }

  preview(objects) {
    this.objects = objects;
    this._index = null;
    this.dispatchEvent(new CustomEvent("preview"));
  }

  /** Finish a gesture: one undo entry when the objects changed, none otherwise. */
  end(reason = "edit") {
    const base = this._base;
    this._base = null;
    if (base === null || base === this.objects) return;
    const objects = this.objects;
    this.objects = base;
    this.commit(objects, reason);
  }

  /** Abandon a gesture, restoring the objects from before it. */
  cancel() {
    if (this._base === null) return;
    const base = this._base;
    this._base = null;
    this.preview(base);
  }

  undo() {
    if (!this.past.length || this._base) return false;
    this.future.push(this.objects);
    this._set(this.past.pop(), "undo");
    return true;
  }

  redo() {
    if (!this.future.length || this._base) return false;
    this.past.push(this.objects);
    this._set(this.future.pop(), "redo");
    return true;
  }

  // Helpers for the common edits ----------------------------------------------------------------------

  add(obj, reason = "create") {
    this.commit([...this.objects, obj], reason);
  }

  update(id, fn, reason = "edit") {
    this.commit(this.objects.map((o) => (o.id === id ? fn(o) : o)), reason);
  }

  remove(id, reason = "delete") {
    this.commit(this.objects.filter((o) => o.id !== id), reason);
  }

  /** Replace everything (after a merge); undoable like any edit. */
  replaceAll(objects, reason = "merge") {
    this.commit(objects, reason);
  }
}
