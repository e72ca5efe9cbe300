// Review: the submitted images one after the other, read-only, with what changed since the last review
// (drawn on the image and listed), approve, and reject with a comment, pinned to a point when the
// reviewer clicks one on the image.
import { h, replace } from "../dom.js";
import { get, paths, post } from "../api.js";
import { mountEditor } from "../editor/editor_view.js";
import { commentMarkers, dropCommentStore } from "../editor/panels/comments_panel.js";
import { neighbour, rememberList } from "../nav.js";
import { navigate } from "../router.js";
import { diffOverlay, diffPanel, reviewDiff } from "../ui/review_diff.js";
import { showError, toast } from "../ui/toast.js";
import { setTopbar } from "../ui/topbar.js";

export const name = "review";
const FILTER = "status=submitted&sort=id";

export async function mount(root, params) {
  const pid = Number(params.pid);
  setTopbar([{ text: "Projects", href: "/" }, { text: "Project", href: `/projects/${pid}` }, { text: "Review" }]);
  const queue = await get(`${paths.images(pid)}?${FILTER}&limit=200`);
  let iid = params.iid ? Number(params.iid) : null;
  if (iid === null) {
    if (!queue.items.length) {
      const project = await get(paths.project(pid));
      setTopbar([{ text: "Projects", href: "/" }, { text: project.name, href: `/projects/${pid}` }, { text: "Review" }]);
      root.className = "app page-review-empty";
      root.append(h("section", { class: "page" },
        h("h1", { text: "Review" }),
        h("p", { class: "muted", testid: "review-empty", text: "No images are waiting for review." }),
        h("a", { href: `/projects/${pid}`, "data-link": "", class: "button", text: "Back to the project" })));
      return;
    }
    iid = queue.items[0].id;
    history.replaceState({}, "", `/projects/${pid}/review/${iid}`);
  }
  const ids = queue.items.map((i) => i.id);
  if (!ids.includes(iid)) ids.unshift(iid);
  rememberList(pid, FILTER, ids, queue.next_cursor);

  let pin = null; // [x, y] in image pixels, or null: the comment is about the whole image
  let pinning = false;
  const comment = h("textarea", { placeholder: "What should be fixed? (needed to reject)", maxlength: 10000, testid: "review-comment" });
  const error = h("p", { class: "error small" });
  const pinButton = h("button", { type: "button", testid: "pin-comment", title: "Click, then click the spot on the image the comment is about",
    on: { click: () => setPinning(!pinning) } }, "⊕ Pin to a point");
  const unpin = h("button", { type: "button", class: "ghost small", testid: "unpin-comment", hidden: true, on: { click: () => setPin(null) } }, "✕");
  const pinText = h("span", { class: "muted small", testid: "pin-state", text: "About the whole image" });
  const approve = h("button", { class: "primary", testid: "approve", on: { click: () => act("approve") } }, "✓ Approve");
  const reject = h("button", { class: "danger", testid: "reject", on: { click: () => act("reject") } }, "✗ Reject");
  const list = h("div", { class: "queue", testid: "review-queue" }, queue.items.map((i) =>
    h("a", { href: `/projects/${pid}/review/${i.id}`, "data-link": "", class: i.id === iid ? "current" : "", text: i.file_name, title: i.file_name })));
  const diffSlot = h("div", { class: "diff-slot" }, h("section", {}, h("h3", { text: "Changes" }), h("p", { class: "muted small", text: "Comparing with the last review…" })));
  const section = h("section", { class: "review-bar" },
    h("h3", { text: `Review · ${queue.total} waiting` }), comment,
    h("div", { class: "row" }, pinButton, pinText, unpin),
    error, h("div", { class: "row" }, approve, reject));

  async function act(action) {
    error.textContent = "";
    const text = comment.value.trim();
    if (action === "reject" && !text) {
      error.textContent = "Say what to fix: a rejection needs a comment.";
      comment.focus();
      return;
    }
    approve.disabled = reject.disabled = true;
    try {
      const body = { action, comment: text || undefined };
      if (text && pin) [body.x, body.y] = pin;
      await post(paths.status(pid, iid), body);
      toast(action === "approve" ? "Approved" : "Rejected with your comment", "ok");
      const next = await neighbour(pid, iid, 1);
      navigate(next === null ? `/projects/${pid}/review` : `/projects/${pid}/review/${next}`);
    } catch (err) {
      showError(err);
      approve.disabled = reject.disabled = false;
    }
  }

  const view = await mountEditor(root, { pid, iid, mode: "review", side: [section, diffSlot, h("section", {}, h("h3", { text: "Queue" }), list)] });
  setTopbar([{ text: "Projects", href: "/" }, { text: view.project.name, href: `/projects/${pid}` }, { text: "Review" }, { text: view.image.file_name }]);
  const { editor } = view;
  const stage = view.renderer.canvas.parentElement;
  const removeMarkers = commentMarkers(view, pid, iid, { includeResolved: false });

  // Pinning: a click on the image (and nothing else) while the pin button is down places the pin.
  const catcher = h("div", { class: "pin-catcher", testid: "pin-catcher", hidden: true, on: { click: (e) => {
    const rect = view.renderer.canvas.getBoundingClientRect();
    const [x, y] = editor.viewport.toImage(e.clientX - rect.left, e.clientY - rect.top);
    if (x < 0 || y < 0 || x > editor.width || y > editor.height) return toast("Pin a point on the image.");
    setPin([Math.round(x * 10) / 10, Math.round(y * 10) / 10]);
    setPinning(false);
  } } });
  const pending = h("div", { class: "pin pending", testid: "pending-pin", hidden: true, text: "+" });
  stage.append(catcher, pending);
  const placePending = () => {
    if (!pin) return;
    const [sx, sy] = editor.viewport.toScreen(pin[0], pin[1]);
    pending.style.transform = `translate(${Math.round(sx)}px, ${Math.round(sy)}px)`;
  };
  editor.addEventListener("frame", placePending);
  const onKey = (e) => e.key === "Escape" && pinning && setPinning(false);
  document.addEventListener("keydown", onKey);

  function setPinning(on) {
    pinning = on;
    catcher.hidden = !on;
    pinButton.classList.toggle("active", on);
    if (on) pinText.textContent = "Click the spot on the image…";
    else setPin(pin);
  }

  function setPin(point) {
    pin = point;
    pending.hidden = !pin;
    unpin.hidden = !pin;
    if (!pinning) pinText.textContent = pin ? `Pinned at ${Math.round(pin[0])}, ${Math.round(pin[1])}` : "About the whole image";
    placePending();
  }

  let overlay = null;
  try {
    const diff = await reviewDiff(pid, iid, editor.doc.objects);
    if (!view.disposed) {
      overlay = diffOverlay(view, diff);
      replace(diffSlot, diffPanel(diff, overlay));
    }
  } catch (err) {
    replace(diffSlot, h("section", {}, h("h3", { text: "Changes" }), h("p", { class: "error small", text: `Cannot compare with the last review: ${err.message}` })));
  }

  return () => {
    editor.removeEventListener("frame", placePending);
    document.removeEventListener("keydown", onKey);
    if (overlay) overlay.dispose();
    removeMarkers();
    dropCommentStore(pid, iid);
    view.dispose();
  };
}
