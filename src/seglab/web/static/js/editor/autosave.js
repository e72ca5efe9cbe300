// Autosave: whole-image saves with the version the edits are based on (If-Match). States: "saved",
// "pending" (edits not sent yet), "saving", "offline" (server unreachable or signed out: retried, with a
// local draft), "conflict" (412: someone else saved; the server's copy is kept for the merge view) and
// "error" (the server refused the content; the message says why). Edits are never dropped: until the server
// has them they are in the document and in the local draft.
//
// Local ids: objects from the server keep their server id as local id; new objects get negative ids. The
// server numbers new objects in the order they are sent (ids ascending), which maps them back. An object
// whose server copy is gone (deleted, then brought back by undo) is sent as new again.
import { ApiError, NetworkError, paths, request } from "../api.js";
import { clearDraft, writeDraft } from "./draft.js";

const DEBOUNCE_MS = 600;
const MAX_WAIT_MS = 3000;
const RETRY_MS = [1000, 2000, 4000, 8000, 15000, 30000];

const API_FIELDS = ["label", "kind", "attributes", "source", "score", "uncertainty", "z_order", "group_id", "track_id", "crowd", "extra"];

/** The API document for a local object (its geometry under its kind, no client-only fields). */
export function toApi(obj, id) {
  const doc = Object.fromEntries(API_FIELDS.map((f) => [f, obj[f]]));
  doc[obj.kind] = obj[obj.kind];
  if (id !== null && id !== undefined) doc.id = id;
  return doc;
}

export class Autosave extends EventTarget {
  constructor({ pid, iid, doc, version, annotations }) {
    super();
    this.pid = pid;
    this.iid = iid;
    this.doc = doc;
    this.idMap = new Map(); // local id -> server id, where they differ
    this.adoptServer(version, annotations);
    this.savedRevision = doc.revision;
    this.state = "saved";
    this.message = "";
    this.conflict = null; // the server's current copy after a 412: {version, annotations}
    this.timer = null;
    this.draftTimer = null;
    this.firstPending = 0;
    this.inflight = null;
    this.again = false;
    this.retries = 0;
    this.enabled = true;
    this._onChange = () => this.changed();
    doc.addEventListener("change", this._onChange);
    this._online = () => this.state === "offline" && this.save();
    window.addEventListener("online", this._online);
  }

  /** Take the server's copy as the new starting point: its version, its ids (after a merge or a load). */
  adoptServer(version, annotations) {
    this.version = version;
    this.base = new Map(annotations.map((a) => [a.id, a]));
    for (const [local, sid] of this.idMap) if (!this.base.has(sid)) this.idMap.delete(local);
  }

  serverIdOf(localId) {
    if (this.idMap.has(localId)) return this.idMap.get(localId);
    return localId > 0 ? localId : null;
  }

  get dirty() {
    return this.doc.revision !== this.savedRevision;
  }

  setState(state, message = "") {
    this.state = state;
    this.message = message;
    this.dispatchEvent(new CustomEvent("state", { detail: { state, message } }));
  }

  changed() {
    if (!this.enabled) return;
    this.scheduleDraft();
    if (this.state === "conflict") return; // wait for the merge
    if (this.state !== "saving" && this.state !== "offline") this.setState("pending");
    if (!this.firstPending) this.firstPending = Date.now();
    clearTimeout(this.timer);
    const wait = Math.max(0, Math.min(DEBOUNCE_MS, this.firstPending + MAX_WAIT_MS - Date.now()));
    this.timer = setTimeout(() => this.save(), wait);
  }

  scheduleDraft() {
    clearTimeout(this.draftTimer);
    this.draftTimer = setTimeout(() => this.writeDraft(), 250);
  }

  writeDraft() {
    clearTimeout(this.draftTimer);
    if (!this.dirty && this.state === "saved") return;
    writeDraft(this.pid, this.iid, {
      version: this.version, objects: this.doc.objects, idMap: this.idMap, nextLocalId: this.doc.nextLocalId,
    });
  }

  /** The body to PUT and the local ids of the objects the server will number. */
  payload() {
    const pending = [];
    const sent = new Set();
    const annotations = this.doc.objects.map((obj) => {
      const sid = this.serverIdOf(obj.id);
      if (sid !== null && this.base.has(sid)) {
        sent.add(sid);
        return toApi(obj, sid);
      }
      pending.push(obj.id);
      return toApi(obj, null);
    });
    return { annotations, pending, sent };
  }

  /** Save now (unless a conflict waits for its merge). Resolves when this save attempt is over. */
  async save() {
    clearTimeout(this.timer);
    if (!this.enabled || this.state === "conflict") return;
    if (this.inflight) {
      this.again = true;
      return this.inflight;
    }
    if (!this.dirty) {
      if (this.state !== "saved") this.setState("saved");
      return;
    }
    this.inflight = this._put().finally(() => {
      this.inflight = null;
      if (this.again) {
        this.again = false;
        if (this.dirty && this.state !== "conflict" && this.state !== "error") this.save();
      }
    });
    return this.inflight;
  }

  async _put() {
    const revision = this.doc.revision;
    const { annotations, pending, sent } = this.payload();
    this.setState("saving");
    try {
      const res = await request("PUT", paths.annotations(this.pid, this.iid), {
        body: { annotations },
        headers: { "If-Match": `"${this.version}"` },
      });
      const fresh = res.body.annotations.map((a) => a.id).filter((id) => !sent.has(id)).sort((a, b) => a - b);
      pending.forEach((local, i) => fresh[i] !== undefined && this.idMap.set(local, fresh[i]));
      this.adoptServer(res.body.version, res.body.annotations);
      this.savedRevision = revision;
      this.retries = 0;
      this.firstPending = 0;
      if (this.dirty) {
        this.setState("pending");
        this.timer = setTimeout(() => this.save(), DEBOUNCE_MS);
      } else {
        clearDraft(this.pid, this.iid);
        this.setState("saved");
      }
      this.dispatchEvent(new CustomEvent("saved", { detail: { version: this.version } }));
    } catch (err) {
      this.writeDraft();
      if (err instanceof ApiError && err.status === 412 && err.body && err.body.current) {
        this.conflict = err.body.current;
        this.setState("conflict", "Someone else saved this image. Your edits are kept: merge them below.");
        this.dispatchEvent(new CustomEvent("conflict", { detail: this.conflict }));
      } else if (err instanceof NetworkError || (err instanceof ApiError && (err.status >= 500 || err.status === 401))) {
        const why = err.status === 401 ? "Signed out: log in again; your edits are kept in this browser." : "Offline: your edits are kept in this browser and sent when the server is back.";
        this.setState("offline", why);
        const delay = RETRY_MS[Math.min(this.retries++, RETRY_MS.length - 1)];
        this.timer = setTimeout(() => this.save(), delay);
      } else {
        this.setState("error", err.message);
      }
    }
  }

  /** After the user merged: the server copy they merged with becomes the base, then save the result. */
  resolved(current) {
    this.adoptServer(current.version, current.annotations);
    this.conflict = null;
    this.setState("pending");
  }

  /** Send what is pending and wait for the result; true when everything is on the server. */
  async flush() {
    await this.save();
    while (this.inflight) await this.inflight;
    return !this.dirty && this.state === "saved";
  }

  dispose() {
    this.writeDraft();
    clearTimeout(this.timer);
    this.enabled = false;
    this.doc.removeEventListener("change", this._onChange);
    window.removeEventListener("online", this._online);
  }
}
