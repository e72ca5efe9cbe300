// The editor screen: top bar (navigation, undo/redo, save state, submit), tool column, canvas, and the side
// panels. Used by the editor page, and read-only by the review page (which adds its own side section).
import { h } from "../dom.js";
import { get, paths, post, user } from "../api.js";
import { neighbour } from "../nav.js";
import { takePrefetch } from "../prefetch.js";
import { navigate } from "../router.js";
import { showError, toast } from "../ui/toast.js";
import { Autosave } from "./autosave.js";
import { convertSelected, copySelection, paste } from "./commands.js";
import { openConflict } from "./conflict.js";
import { Editor } from "./editor.js";
import { attachInput } from "./input.js";
import { loadImageData, loadPixels, loadVersion } from "./loader.js";
import { attributesPanel } from "./panels/attributes_panel.js";
import { classPicker } from "./panels/class_picker.js";
import { commentsPanel } from "./panels/comments_panel.js";
import { helpOverlay } from "./panels/help_overlay.js";
import { objectCommands } from "./panels/object_commands.js";
import { objectsPanel } from "./panels/objects_panel.js";
import { toolbar } from "./panels/toolbar.js";
import { toolOptions } from "./panels/tool_options.js";
import { viewPanel } from "./panels/view_panel.js";
import { Renderer } from "./render/renderer.js";
import { installTools } from "./tools/registry.js";

const STATE_TEXT = { saved: "Saved", pending: "Saving…", saving: "Saving…", offline: "Offline", conflict: "Conflict", error: "Not saved" };
const STATUS_TEXT = { new: "New", in_progress: "In progress", submitted: "Submitted", approved: "Approved", rejected: "Rejected" };

function readOnlyReason(mode, project, image) {
  if (mode === "review") return "Review: read-only.";
  if (project.role === "viewer") return "You can view this project, not edit it.";
  const reviewer = ["reviewer", "manager", "owner"].includes(project.role);
  if (!reviewer && ["submitted", "approved"].includes(image.status)) return `This image is ${STATUS_TEXT[image.status].toLowerCase()}: a reviewer must reopen it before it is edited.`;
  const me = user();
  if (!reviewer && image.assignee_id && me && image.assignee_id !== me.id) return "This image is assigned to another annotator.";
  return null;
}

/** Mount the editor for image `iid`; returns {editor, autosave, dispose}. `side` adds sections on the right. */
export async function mountEditor(root, { pid, iid, mode = "edit", side = [], topExtra = [], navigation = true }) {
  const t0 = performance.now();
  const prefetched = takePrefetch(pid, iid);
  const pixels = loadPixels(pid, iid, prefetched && prefetched.layout);
  pixels.catch(() => {});
  const data = await loadImageData(pid, iid, prefetched && prefetched.annotations);
  performance.mark("seglab:data");
  const { project, image, ontology } = data;
  const reason = readOnlyReason(mode, project, image);
  const editor = new Editor({ image, ontology, objects: data.annotations, readOnly: Boolean(reason) });
  installTools(editor);
  editor.setTool("select");
  performance.mark("seglab:editor");

  const autosave = editor.readOnly ? null : new Autosave({ pid, iid, doc: editor.doc, version: data.version, annotations: data.annotations });
  let restored = null;
  if (autosave && data.draft) restored = await restoreDraft(data.draft);

  async function restoreDraft(draft) {
    autosave.enabled = false;
    editor.doc.nextLocalId = Math.min(editor.doc.nextLocalId, draft.nextLocalId ?? -1);
    for (const [local, sid] of draft.idMap || []) autosave.idMap.set(local, sid);
    if (draft.version !== data.version) {
      const base = await loadVersion(pid, iid, draft.version);
      autosave.adoptServer(draft.version, base || data.annotations); // the save meets a 412, then the merge view
    }
    editor.doc.replaceAll(draft.objects, "restore draft");
    editor.doc.past = [];
    autosave.enabled = true;
    autosave.changed();
    return draft;
  }

  // ------------------------------------------------------------------- controller (keys, buttons)
  let help = null;
  let closeConflict = null;
  let renderer = null;
  let stage = null;
  const controller = {
    editor,
    undo: () => editor.readOnly || editor.doc.undo(),
    redo: () => editor.readOnly || editor.doc.redo(),
    fit: () => renderer.fit(),
    actualSize: () => (editor.viewport.actualSize(), editor.requestRender()),
    saveNow: () => autosave && autosave.save(),
    copy: () => copySelection(editor),
    paste: () => paste(editor),
    convert: () => editor.readOnly || convertSelected(editor),
    togglePanoptic: () => editor.setView({ panoptic: !editor.view.panoptic }),
    modalOpen: () => Boolean(document.querySelector(".backdrop")),
    toggleHelp() {
      if (help) return help.remove(), (help = null);
      help = helpOverlay(() => controller.toggleHelp());
      stage.append(help);
    },
    async go(step) {
      if (!(await leave())) return;
      const target = await neighbour(pid, iid, step);
      if (target === null) return toast(step > 0 ? "This is the last image." : "This is the first image.");
      navigate(`/projects/${pid}/${mode === "review" ? "review" : "images"}/${target}`);
    },
    async submit() {
      if (!(await leave())) return;
      try {
        await post(paths.status(pid, iid), { action: "submit" });
        toast("Submitted for review", "ok");
        const target = await neighbour(pid, iid, 1);
        navigate(target === null ? `/projects/${pid}` : `/projects/${pid}/images/${target}`);
      } catch (err) {
        showError(err);
      }
    },
  };

  // ------------------------------------------------------------------------------------------- layout
  const canvas = h("canvas", { testid: "canvas", tabindex: 0, "aria-label": `Image ${image.file_name}` });
  const hint = h("div", { class: "ed-hint", testid: "hint" });
  const zoom = h("span", { testid: "zoom-level" });
  stage = h("div", { class: "ed-stage" }, canvas, hint, h("div", { class: "ed-zoom" }, zoom));
  const saveState = h("span", { class: "save-state", testid: "save-state", "aria-live": "polite" });
  const undoButton = h("button", { testid: "undo", title: "Undo (Ctrl+Z)", disabled: true, on: { click: () => controller.undo() } }, "↶ Undo");
  const redoButton = h("button", { testid: "redo", title: "Redo (Ctrl+Shift+Z)", disabled: true, on: { click: () => controller.redo() } }, "↷ Redo");
  const prev = h("button", { testid: "prev-image", title: "Previous image (Alt+←)", on: { click: () => controller.go(-1) } }, "‹ Prev");
  const next = h("button", { testid: "next-image", title: "Next image (Alt+→)", on: { click: () => controller.go(1) } }, "Next ›");
  const submit = h("button", { class: "primary", testid: "submit", on: { click: () => controller.submit() } }, "Submit for review");
  const kept = reason && data.draft ? " Unsaved edits from this browser are kept and come back when it can be edited." : "";
  const banner = reason || restored ? h("div", { class: "banner", testid: "editor-banner",
    text: reason ? reason + kept : `Restored unsaved edits from this browser (${new Date(restored.savedAt).toLocaleString()}).` }) : null;

  const top = h("div", { class: "ed-top" },
    h("a", { href: `/projects/${pid}`, "data-link": "", class: "button", text: `‹ ${project.name}` }),
    h("strong", { class: "title", text: image.file_name, title: image.file_name }),
    h("span", { class: `pill status-${image.status}`, testid: "image-status", text: STATUS_TEXT[image.status] }),
    navigation && [prev, next],
    h("div", { class: "spacer" }),
    !editor.readOnly && [undoButton, redoButton, saveState],
    topExtra,
    mode === "edit" && !editor.readOnly && submit);
  const sidebar = h("aside", { class: "ed-side" }, banner, side, commentsPanel(pid, iid), !editor.readOnly && classPicker(editor),
    !editor.readOnly && toolOptions(editor), attributesPanel(editor), viewPanel(editor), !editor.readOnly && objectCommands(editor),
    objectsPanel(editor, autosave));
  root.append(h("div", { class: "editor" }, top, toolbar(editor, controller), stage, sidebar));

  /** Make sure the work is on the server before leaving the image; false (with a message) if it is not. */
  async function leave() {
    if (!autosave) return true;
    if (await autosave.flush()) return true;
    toast(autosave.state === "conflict" ? "Merge the conflict first." : `Not saved yet: ${autosave.message || autosave.state}`, "error");
    return false;
  }

  renderer = new Renderer(canvas, editor);
  const detachInput = attachInput(canvas, controller);
  const syncHistory = () => {
    undoButton.disabled = !editor.doc.past.length;
    redoButton.disabled = !editor.doc.future.length;
  };
  editor.doc.addEventListener("change", syncHistory);
  syncHistory();
  const showHint = (text) => (hint.textContent = text || (editor.tool && editor.tool.hint) || "");
  editor.addEventListener("hint", (e) => {
    showHint(e.detail);
    clearTimeout(showHint.timer);
    showHint.timer = setTimeout(() => showHint(), 4000);
  });
  editor.addEventListener("tool", () => showHint());
  editor.addEventListener("frame", () => (zoom.textContent = `${Math.round(editor.viewport.scale * 100)}%`));
  showHint();

  if (autosave) {
    let lastError = "";
    const syncState = () => {
      if (autosave.state === "error" && autosave.message !== lastError) showError(new Error(`Not saved: ${autosave.message}`));
      lastError = autosave.state === "error" ? autosave.message : "";
      saveState.dataset.state = autosave.state === "pending" ? "saving" : autosave.state;
      saveState.textContent = STATE_TEXT[autosave.state];
      saveState.title = autosave.message || STATE_TEXT[autosave.state];
    };
    autosave.addEventListener("state", syncState);
    autosave.addEventListener("saved", async () => {
      if (image.status !== "new") return; // an annotator's first save moves the image on: show it
      const fresh = await get(paths.image(pid, iid)).catch(() => image);
      image.status = fresh.status;
      const pill = top.querySelector("[data-testid=image-status]");
      pill.className = `pill status-${image.status}`;
      pill.textContent = STATUS_TEXT[image.status];
    });
    autosave.addEventListener("conflict", () => {
      if (closeConflict) closeConflict();
      closeConflict = openConflict(stage, editor, autosave);
    });
    syncState();
  }
  const beforeUnload = () => autosave && autosave.writeDraft();
  window.addEventListener("beforeunload", beforeUnload);
  const resize = new ResizeObserver(() => editor.requestRender());
  resize.observe(stage);

  performance.mark("seglab:ui");
  try {
    renderer.setImage(await pixels);
    performance.mark("seglab:pixels");
  } catch (err) {
    showError(err);
  }
  renderer.fit();
  while (renderer.needFit) await new Promise((resolve) => requestAnimationFrame(() => resolve()));
  canvas.dataset.ready = "1";
  (window.requestIdleCallback || setTimeout)(() => editor.index.flush()); // hit testing ready before the first click
  performance.mark("seglab:editor-ready", { detail: { ms: performance.now() - t0 } });
  const handle = { editor, autosave, controller, renderer, project, image, loadMs: performance.now() - t0 };
  window.__seglab = handle;
  (async () => {
    while (!handle.disposed && (!renderer.layer.front || renderer.layer.job)) await new Promise((r) => requestAnimationFrame(r));
    performance.mark("seglab:objects-drawn");
    canvas.dataset.drawn = "1";
  })();

  handle.dispose = () => {
    handle.disposed = true;
    if (closeConflict) closeConflict();
    detachInput();
    resize.disconnect();
    window.removeEventListener("beforeunload", beforeUnload);
    if (autosave) {
      autosave.save();
      autosave.dispose();
    }
    if (window.__seglab === handle) delete window.__seglab;
  };
  return handle;
}
