// Review: the submitted images one after the other, read-only, with approve, and reject with a comment.
import { h } from "../dom.js";
import { get, paths, post } from "../api.js";
import { mountEditor } from "../editor/editor_view.js";
import { neighbour, rememberList } from "../nav.js";
import { navigate } from "../router.js";
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

  const comment = h("textarea", { placeholder: "What should be fixed? (needed to reject)", maxlength: 10000, testid: "review-comment" });
  const error = h("p", { class: "error small" });
  const approve = h("button", { class: "primary", testid: "approve", on: { click: () => act("approve") } }, "✓ Approve");
  const reject = h("button", { class: "danger", testid: "reject", on: { click: () => act("reject") } }, "✗ Reject");
  const list = h("div", { class: "queue", testid: "review-queue" }, queue.items.map((i) =>
    h("a", { href: `/projects/${pid}/review/${i.id}`, "data-link": "", class: i.id === iid ? "current" : "", text: i.file_name, title: i.file_name })));
  const section = h("section", { class: "review-bar" },
    h("h3", { text: `Review · ${queue.total} waiting` }), comment, error, h("div", { class: "row" }, approve, reject));

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
      await post(paths.status(pid, iid), { action, comment: text || undefined });
      toast(action === "approve" ? "Approved" : "Rejected with your comment", "ok");
      const next = await neighbour(pid, iid, 1);
      navigate(next === null ? `/projects/${pid}/review` : `/projects/${pid}/review/${next}`);
    } catch (err) {
      showError(err);
      approve.disabled = reject.disabled = false;
    }
  }

  const view = await mountEditor(root, { pid, iid, mode: "review", side: [section, h("section", {}, h("h3", { text: "Queue" }), list)] });
  setTopbar([{ text: "Projects", href: "/" }, { text: view.project.name, href: `/projects/${pid}` }, { text: "Review" }, { text: view.image.file_name }]);
  return () => view.dispose();
}
