// Review comments on an image: the side panel lists them (numbered, open ones first, resolve / reopen),
// and pinned ones show as numbered markers on the canvas at their image point. Both read one store per
// image, so resolving in the list updates the markers. Text always goes in as text, never as markup.
import { h, replace } from "../../dom.js";
import { get, patch, paths, user } from "../../api.js";
import { showError } from "../../ui/toast.js";

const stores = new Map(); // "pid:iid" -> CommentStore

/** The comments of one image, loaded once and shared by the panel and the markers. */
class CommentStore extends EventTarget {
  constructor(pid, iid) {
    super();
    this.pid = pid;
    this.iid = iid;
    this.comments = [];
    this.authors = new Map();
    this.focused = null;
    this.ready = this.reload();
  }

  async reload() {
    const [comments, members] = await Promise.all([
      get(`${paths.comments(this.pid, this.iid)}?limit=500`),
      get(`${paths.members(this.pid)}?limit=500`).catch(() => []),
    ]);
    this.comments = comments;
    for (const m of members) this.authors.set(m.user_id, m.display_name || m.username);
    this.changed();
  }

  changed() {
    this.dispatchEvent(new CustomEvent("change"));
  }

  /** Pin numbers: 1.. in id order, so the list and the canvas agree. */
  number(comment) {
    return this.comments.indexOf(comment) + 1;
  }

  async setResolved(comment, resolved) {
    const fresh = await patch(paths.comment(this.pid, this.iid, comment.id), { resolved });
    Object.assign(comment, fresh);
    this.changed();
  }

  focus(comment) {
    this.focused = comment ? comment.id : null;
    this.dispatchEvent(new CustomEvent("focus", { detail: comment }));
    this.changed();
  }
}

export function commentStore(pid, iid) {
  const key = `${pid}:${iid}`;
  let store = stores.get(key);
  if (!store) {
    store = new CommentStore(pid, iid);
    store.ready.catch(() => {});
    stores.set(key, store);
  }
  return store;
}

/** Forget the image's comments (the page left it); the next visit loads them again. */
export function dropCommentStore(pid, iid) {
  stores.delete(`${pid}:${iid}`);
}

/** The side panel: every comment with its author and time, open ones first; resolved ones folded away. */
export function commentsPanel(pid, iid) {
  const store = commentStore(pid, iid);
  const list = h("div", { class: "comments", testid: "comments" });
  const resolvedList = h("div", { class: "comments resolved", testid: "resolved-comments" });
  const resolvedBox = h("details", { class: "resolved-box", hidden: true }, h("summary", { testid: "show-resolved" }), resolvedList);
  const box = h("section", { hidden: true, class: "comments-box", testid: "comments-box" },
    h("h3", { text: "Reviewer comments" }), list, resolvedBox);
  const me = user();

  function item(c) {
    const n = store.number(c);
    const when = new Date(c.created_at);
    const pinned = c.x !== null && c.y !== null;
    const toggle = h("button", { type: "button", class: "ghost small", testid: c.resolved ? "reopen-comment" : "resolve-comment",
      on: { click: async (e) => {
        e.stopPropagation();
        toggle.disabled = true;
        try {
          await store.setResolved(c, !c.resolved);
        } catch (err) {
          showError(err);
          toggle.disabled = false;
        }
      } } }, c.resolved ? "Reopen" : "✓ Resolve");
    const author = store.authors.get(c.author_id) || (me && c.author_id === me.id ? "you" : "someone");
    return h("div", { class: ["comment", c.resolved && "is-resolved", store.focused === c.id && "focused", pinned && "pinned"],
      testid: "comment", dataset: { id: c.id, resolved: c.resolved ? "1" : "0", pinned: pinned ? "1" : "0" },
      title: pinned ? "Show it on the image" : "",
      on: { click: () => pinned && store.focus(c) } },
    h("div", { class: "row comment-head" },
      h("span", { class: "pin-number", text: pinned ? String(n) : "•", title: pinned ? `Pin ${n}` : "About the whole image" }),
      h("span", { class: "muted small", text: `${author} · ${when.toLocaleString()}` }),
      h("div", { class: "spacer" }), toggle),
    h("ol", { class: "comment-text", start: n }, h("li", { text: c.text })));
  }

  function draw() {
    const open = store.comments.filter((c) => !c.resolved);
    const done = store.comments.filter((c) => c.resolved);
    box.hidden = !store.comments.length;
    replace(list, open.length ? open.map(item) : h("p", { class: "muted small", testid: "no-open-comments", text: "All comments are resolved." }));
    resolvedBox.hidden = !done.length;
    resolvedBox.querySelector("summary").textContent = `Resolved (${done.length})`;
    replace(resolvedList, done.map(item));
  }
  store.addEventListener("change", draw);
  store.ready.then(draw, () => {});
  return box;
}

/**
 * Numbered markers for the pinned comments, over the editor's canvas at their image points; they follow
 * pan and zoom (redrawn on the editor's frames). Returns a function that removes them.
 */
export function commentMarkers(view, pid, iid, { includeResolved = false } = {}) {
  const store = commentStore(pid, iid);
  const { editor } = view;
  const stage = view.renderer.canvas.parentElement;
  const layer = h("div", { class: "pin-layer", testid: "comment-markers" });
  stage.append(layer);
  let markers = [];

  function build() {
    const shown = store.comments.filter((c) => c.x !== null && c.y !== null && (includeResolved || !c.resolved));
    markers = shown.map((c) => {
      const el = h("button", { type: "button", class: ["pin", c.resolved && "is-resolved", store.focused === c.id && "focused"],
        testid: "comment-marker", dataset: { id: c.id }, title: c.text, text: String(store.number(c)),
        on: { click: () => store.focus(c) } });
      return { c, el };
    });
    replace(layer, markers.map((m) => m.el));
    place();
  }

  function place() {
    const vp = editor.viewport;
    for (const { c, el } of markers) {
      const [sx, sy] = vp.toScreen(c.x, c.y);
      el.style.transform = `translate(${Math.round(sx)}px, ${Math.round(sy)}px)`;
      el.hidden = sx < -20 || sy < -20 || sx > vp.width + 20 || sy > vp.height + 20;
    }
  }

  const onFocus = (e) => {
    const c = e.detail;
    if (!c || c.x === null) return;
    const vp = editor.viewport;
    const [sx, sy] = vp.toScreen(c.x, c.y);
    if (sx < 0 || sy < 0 || sx > vp.width || sy > vp.height) {
      vp.centerOn(c.x, c.y);
      editor.requestRender();
    }
  };
  store.addEventListener("change", build);
  store.addEventListener("focus", onFocus);
  editor.addEventListener("frame", place);
  store.ready.then(build, () => {});
  return () => {
    store.removeEventListener("change", build);
    store.removeEventListener("focus", onFocus);
    editor.removeEventListener("frame", place);
    layer.remove();
  };
}
