// What changed since the last review: the image's objects now against their state when a reviewer last
// approved or rejected it (the annotation version the server's review log recorded for that step; none
// yet: the empty start, so a first review sees every object as added). Drawn over the editor's
// canvas (added green, removed red and dashed, changed yellow with the old outline dashed) and listed.
import { h, replace } from "../dom.js";
import { get, paths } from "../api.js";
import { drawObject } from "../editor/render/kinds.js";
import { styleFor } from "../editor/render/style.js";
import { boundsOf } from "../editor/shapes/registry.js";

export const DIFF_COLORS = { added: [34, 197, 94], removed: [239, 68, 68], changed: [234, 179, 8] };
const COMPARED = ["label", "kind", "attributes", "z_order", "group_id", "crowd"];

/** JSON with object keys sorted, so two equal values always give the same text. */
function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(",")}}`;
  }
  return JSON.stringify(value ?? null);
}

/** What differs between two versions of one object: "class", "shape", "attributes", ... (empty: same). */
export function changedParts(before, after) {
  const parts = [];
  for (const key of COMPARED) {
    if (canonical(before[key]) !== canonical(after[key])) parts.push(key === "label" ? "class" : key.replace("_", " "));
  }
  if (before.kind === after.kind && canonical(before[before.kind]) !== canonical(after[after.kind])) parts.push("shape");
  return parts;
}

/** Objects matched by id: {added: [obj], removed: [obj], changed: [{before, after, parts}]}. */
export function diffObjects(before, after) {
  const old = new Map(before.map((o) => [o.id, o]));
  const now = new Map(after.map((o) => [o.id, o]));
  const added = after.filter((o) => !old.has(o.id));
  const removed = before.filter((o) => !now.has(o.id));
  const changed = [];
  for (const o of after) {
    const prev = old.get(o.id);
    if (!prev) continue;
    const parts = changedParts(prev, o);
    if (parts.length) changed.push({ before: prev, after: o, parts });
  }
  return { added, removed, changed };
}

/**
 * The annotation version a reviewer last decided on: the newest approve or reject in the image's review
 * log, which records the version each step was taken on. Returns {version, at} (version 0, at null: never
 * reviewed, so a first review sees every object as added).
 */
export async function lastReviewedVersion(pid, iid) {
  const events = await get(`${paths.reviews(pid, iid)}?limit=500`);
  const decided = events.filter((e) => e.action === "approve" || e.action === "reject").at(-1);
  return decided ? { version: decided.annotation_version, at: decided.created_at } : { version: 0, at: null };
}

/** The diff of image `iid` now (`current`, the editor's objects) against its last review. */
export async function reviewDiff(pid, iid, current) {
  const base = await lastReviewedVersion(pid, iid);
  const before = base.version > 0 ? (await get(paths.history(pid, iid, base.version))).annotations : [];
  return { ...base, ...diffObjects(before, current) };
}

/** Draw `diff` over the editor's canvas, following pan and zoom; returns {setVisible, dispose}. */
export function diffOverlay(view, diff) {
  const { editor } = view;
  const stage = view.renderer.canvas.parentElement;
  const canvas = h("canvas", { class: "diff-layer", testid: "diff-layer" });
  stage.append(canvas);
  const styles = Object.fromEntries(Object.entries(DIFF_COLORS).map(([k, c]) => [k, styleFor(c)]));
  const stroke = Object.fromEntries(Object.entries(DIFF_COLORS).map(([k, c]) => [k, `rgb(${c.join(",")})`]));
  let visible = true;
  let focused = null;

  function draw() {
    const vp = editor.viewport;
    const dpr = window.devicePixelRatio || 1;
    const w = Math.round(vp.width * dpr);
    const hgt = Math.round(vp.height * dpr);
    if (canvas.width !== w || canvas.height !== hgt) (canvas.width = w), (canvas.height = hgt);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    if (!visible) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const one = (obj, kind, opts) => drawObject(ctx, obj, styles[kind], vp, editor.classOf(obj), { stroke: stroke[kind], ...opts });
    for (const o of diff.removed) one(o, "removed", { lineWidth: 2.5, fill: false, dash: [6, 4] });
    for (const c of diff.changed) {
      one(c.before, "changed", { lineWidth: 1.5, fill: false, dash: [3, 3] });
      one(c.after, "changed", { lineWidth: 2.5, fill: false });
    }
    for (const o of diff.added) one(o, "added", { lineWidth: 2.5, fill: false });
    if (focused) {
      const [x0, y0, x1, y1] = boundsOf(focused);
      const [sx0, sy0] = vp.toScreen(x0, y0);
      const [sx1, sy1] = vp.toScreen(x1, y1);
      ctx.setLineDash([]);
      ctx.lineWidth = 1;
      ctx.strokeStyle = "#fff";
      ctx.strokeRect(sx0 - 6, sy0 - 6, sx1 - sx0 + 12, sy1 - sy0 + 12);
    }
  }
  editor.addEventListener("frame", draw);
  draw();
  return {
    setVisible(on) {
      visible = on;
      draw();
    },
    /** Outline `obj` and bring it into view. */
    focus(obj) {
      focused = obj;
      const [x0, y0, x1, y1] = boundsOf(obj);
      editor.viewport.centerOn((x0 + x1) / 2, (y0 + y1) / 2);
      editor.requestRender();
    },
    dispose() {
      editor.removeEventListener("frame", draw);
      canvas.remove();
    },
  };
}

/** The side section: counts, a legend, a show/hide switch and one row per change (click: show it). */
export function diffPanel(diff, overlay) {
  const list = h("ul", { class: "plain diff-list", testid: "diff-list" });
  const name = (o) => `${o.label} #${o.id} (${o.kind})`;
  const row = (change, obj, detail) => h("li", { class: `diff-item diff-${change}`, testid: "diff-item", dataset: { change, id: obj.id },
    on: { click: () => overlay.focus(obj) } },
  h("span", { class: `diff-dot diff-${change}` }), h("span", { class: "name", text: name(obj) }), detail && h("span", { class: "muted small", text: detail }));
  replace(list,
    diff.added.map((o) => row("added", o, "added")),
    diff.removed.map((o) => row("removed", o, "removed")),
    diff.changed.map((c) => row("changed", c.after, c.parts.join(", "))));
  const total = diff.added.length + diff.removed.length + diff.changed.length;
  const toggle = h("input", { type: "checkbox", checked: true, testid: "toggle-diff", on: { change: () => overlay.setVisible(toggle.checked) } });
  const since = diff.at ? `since the review of ${new Date(diff.at).toLocaleString()} (version ${diff.version})` : "since the start (first review)";
  return h("section", { class: "diff-box", testid: "review-diff", dataset: { added: diff.added.length, removed: diff.removed.length, changed: diff.changed.length, base: diff.version } },
    h("h3", { text: "Changes" }),
    h("p", { class: "muted small", testid: "diff-since", text: total ? `${total} change(s) ${since}` : `Nothing changed ${since}.` }),
    h("div", { class: "row wrap legend diff-legend" },
      h("span", { class: "diff-count diff-added", testid: "diff-added", text: `+${diff.added.length} added` }),
      h("span", { class: "diff-count diff-removed", testid: "diff-removed", text: `−${diff.removed.length} removed` }),
      h("span", { class: "diff-count diff-changed", testid: "diff-changed", text: `~${diff.changed.length} changed` }),
      h("label", { class: "check small" }, toggle, "show on image")),
    list);
}
