// Auto-label review in the editor: the image's pending model predictions drawn dashed on top of the human
// objects (a layer that can be hidden), each listed with its score and uncertainty, accepted (it becomes a
// human object through the server's versioned save) or rejected one by one or all above a score; and the
// model's per-pixel uncertainty as a heat overlay under the objects, with its own toggle and opacity.
// An audit suspect opened from the audit queue (?object=ID&box=x0,y0,x1,y1&why=...) is selected and framed.
import { h, replace, rgb } from "../dom.js";
import { ApiError, get, paths, post, request } from "../api.js";
import { showError, toast } from "../ui/toast.js";
import { drawObject } from "./render/kinds.js";
import { styleFor } from "./render/style.js";

const SUSPECT = "#fb923c";

/** A prediction as an editor object (what the shape renderers draw). */
function asObject(p) {
  return { id: -1e9 - p.id, label: p.label, kind: p.kind, [p.kind]: p.geometry, z_order: 0, attributes: {}, extra: {} };
}

/** The 8-bit uncertainty map as an RGBA canvas: transparent where the model is sure, bright where it is not. */
async function heatCanvas(blob) {
  const bitmap = await createImageBitmap(blob);
  const canvas = document.createElement("canvas");
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(bitmap, 0, 0);
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height);
  const px = data.data;
  for (let i = 0; i < px.length; i += 4) {
    const u = px[i] / 255; // grey: R = G = B
    px[i] = 255; // amber to hot yellow-white as doubt grows: apart from the usual class colours
    px[i + 1] = Math.round(150 + 105 * u);
    px[i + 2] = Math.round(200 * Math.max(0, u - 0.5));
    px[i + 3] = Math.round(255 * Math.min(1, u * 1.6));
  }
  ctx.putImageData(data, 0, 0);
  return canvas;
}

function fixed(v, digits = 2) {
  return v === null || v === undefined ? "–" : Number(v).toFixed(digits);
}

/** The predictions section of the side panel; also installs the drawing hooks on the editor. */
export function predictionsPanel(editor, autosave) {
  const pid = editor.image.project_id;
  const iid = editor.image.id;
  const canDecide = Boolean(autosave);
  const state = { items: [], visible: true, heat: null, heatVisible: false, opacity: 0.6, focus: null, suspect: null };
  editor.predictions = state;

  const count = h("span", { class: "muted small", testid: "prediction-count" });
  const list = h("div", { class: "objects", testid: "predictions-panel", role: "list", "aria-label": "Predictions", style: { maxHeight: "28vh" } });
  const showBox = h("input", { type: "checkbox", checked: true, testid: "predictions-toggle",
    on: { change: () => { state.visible = showBox.checked; editor.requestRender(); } } });
  const heatBox = h("input", { type: "checkbox", testid: "heat-toggle", disabled: true,
    on: { change: () => { state.heatVisible = heatBox.checked; editor.requestRender(); } } });
  const opacity = h("input", { type: "range", min: 0, max: 1, step: 0.05, value: state.opacity, testid: "heat-opacity", title: "Heat map opacity", style: { width: "84px", flex: "none" },
    on: { input: () => { state.opacity = Number(opacity.value); editor.requestRender(); } } });
  const threshold = h("input", { type: "number", min: 0, max: 1, step: 0.05, value: 0.8, testid: "accept-threshold", title: "Minimum score", style: { width: "64px" } });
  const acceptAbove = h("button", { class: "small", testid: "accept-above", on: { click: () => accept({ min_score: Number(threshold.value) }) } }, "Accept all ≥");

  function row(p) {
    const cls = editor.classOf({ label: p.label });
    const doubt = p.uncertainty !== null && p.uncertainty > 0.5;
    return h("div", {
      class: ["obj", "prediction", state.focus === p.id && "selected"], role: "listitem", testid: "prediction-row",
      dataset: { id: String(p.id), label: p.label, score: String(p.score ?? "") },
      on: { click: () => { state.focus = state.focus === p.id ? null : p.id; paint(); editor.requestRender(); } },
    },
    h("span", { class: "swatch", style: { border: `2px dashed ${rgb(cls.color)}`, background: "transparent" } }),
    h("span", { class: "name", text: p.label, title: `${p.label} (${p.model})` }),
    h("span", { class: "kind", title: "score", text: `s ${fixed(p.score)}` }),
    h("span", { class: "kind", style: doubt ? { color: "#fb923c" } : {}, title: "uncertainty (0 = sure, 1 = no idea)", text: `u ${fixed(p.uncertainty)}` }),
    canDecide && [
      h("button", { class: "small", title: "Accept: becomes a human object", testid: "prediction-accept",
        on: { click: (e) => { e.stopPropagation(); accept({ ids: [p.id] }); } } }, "✓"),
      h("button", { class: "small", title: "Reject", testid: "prediction-reject",
        on: { click: (e) => { e.stopPropagation(); reject([p.id]); } } }, "✕"),
    ]);
  }

  function paint() {
    count.textContent = String(state.items.length);
    replace(list, state.items.length ? state.items.map(row) : h("p", { class: "muted small", text: "No pending predictions." }));
    acceptAbove.disabled = !state.items.length;
  }

  async function load() {
    try {
      state.items = await get(`${paths.image(pid, iid)}/predictions?status=pending&limit=1000`);
    } catch (err) {
      state.items = [];
      if (!(err instanceof ApiError && err.status === 404)) showError(err);
    }
    state.objects = new Map(state.items.map((p) => [p.id, asObject(p)]));
    paint();
    editor.requestRender();
  }

  async function loadHeat() {
    try {
      const response = await fetch(`/api/${paths.image(pid, iid)}/uncertainty`, { credentials: "same-origin" });
      if (!response.ok) return;
      state.heat = await heatCanvas(await response.blob());
      heatBox.disabled = false;
      editor.requestRender();
    } catch {
      // no map: the toggle stays disabled
    }
  }

  /** Accept on the server, then bring the new human objects into the document as the saved state. */
  async function accept(selection) {
    if (!autosave) return;
    if (!(await autosave.flush())) return toast("Save or merge your edits before accepting predictions.", "error");
    try {
      const path = `${paths.image(pid, iid)}/predictions/accept`;
      const res = await request("POST", path, { body: selection, headers: { "If-Match": `"${autosave.version}"` } });
      const accepted = res.body.accepted.length;
      const fresh = await request("GET", paths.annotations(pid, iid));
      const known = new Set(editor.doc.objects.map((o) => autosave.serverIdOf(o.id)));
      const added = fresh.body.annotations.filter((a) => !known.has(a.id));
      autosave.adoptServer(fresh.body.version, fresh.body.annotations);
      if (added.length) editor.doc.commit([...editor.doc.objects, ...added], "accept prediction");
      autosave.savedRevision = editor.doc.revision; // the server has them already
      toast(accepted ? `Accepted ${accepted} prediction(s)` : "No prediction reached that score", accepted ? "ok" : "info");
    } catch (err) {
      showError(err);
    }
    await load();
  }

  async function reject(ids) {
    try {
      await post(`${paths.image(pid, iid)}/predictions/reject`, { ids });
    } catch (err) {
      showError(err);
    }
    await load();
  }

  // Drawing: the heat map under the objects, the predictions (and an audit suspect) dashed above them.
  editor.overlays.under.push((ctx, vp) => {
    if (!state.heat || !state.heatVisible) return;
    ctx.save();
    ctx.globalAlpha = state.opacity;
    ctx.imageSmoothingEnabled = vp.scale < 2;
    ctx.drawImage(state.heat, vp.tx, vp.ty, editor.width * vp.scale, editor.height * vp.scale);
    ctx.restore();
  });
  editor.overlays.over.push((ctx, vp) => {
    if (state.visible && state.objects) {
      for (const p of state.items) {
        const obj = state.objects.get(p.id);
        const style = styleFor(editor.classOf(obj).color);
        const focused = state.focus === p.id;
        drawObject(ctx, obj, style, vp, editor.classOf(obj), { lineWidth: focused ? 3 : 2, fill: focused, dash: [6, 4] });
      }
    }
    if (state.suspect) {
      const [x0, y0, x1, y1] = state.suspect;
      ctx.save();
      ctx.setLineDash([8, 4]);
      ctx.lineWidth = 2.5;
      ctx.strokeStyle = SUSPECT;
      ctx.strokeRect(vp.tx + x0 * vp.scale - 4, vp.ty + y0 * vp.scale - 4, (x1 - x0) * vp.scale + 8, (y1 - y0) * vp.scale + 8);
      ctx.restore();
    }
  });

  // An audit suspect: select its object, frame its box, say why it is suspected.
  const query = new URLSearchParams(location.search);
  const box = (query.get("box") || "").split(",").map(Number);
  if (box.length === 4 && box.every(Number.isFinite)) state.suspect = box;
  const objectId = Number(query.get("object"));
  const why = query.get("why");
  const suspectNote = why ? h("p", { class: "banner small", testid: "suspect-note", text: `Audit: ${why}` }) : null;
  if (objectId && editor.doc.get(objectId)) editor.select(objectId);
  if (state.suspect || editor.selectedId !== null) {
    const frame = () => { // once the view is fitted: centre the suspect
      if (!document.querySelector("[data-testid=canvas][data-ready]")) return;
      editor.removeEventListener("frame", frame);
      if (state.suspect) {
        const [x0, y0, x1, y1] = state.suspect;
        editor.viewport.centerOn((x0 + x1) / 2, (y0 + y1) / 2);
        editor.requestRender();
      } else editor.reveal(editor.selectedId);
    };
    editor.addEventListener("frame", frame);
  }

  load();
  loadHeat();
  return h("section", { class: "predictions-section", testid: "predictions-section" },
    suspectNote,
    h("h3", {}, "Predictions ", count),
    h("div", { class: "row small" },
      h("label", { class: "row" }, showBox, "Show"),
      h("label", { class: "row", title: "Per-pixel uncertainty of the newest auto-labeling" }, heatBox, "Uncertainty"),
      opacity),
    canDecide && h("div", { class: "row small" }, acceptAbove, threshold),
    list);
}
