// The annotator's queue: how much of the work is theirs (to fix, in progress, waiting for review, done)
// and how much is still unclaimed; "Start labeling" asks the server for the next image (their own
// unfinished work first, else a new image claimed for them) and opens the editor on it.
import { h, replace } from "../dom.js";
import { get, paths } from "../api.js";
import { rememberList } from "../nav.js";
import { navigate } from "../router.js";
import { showError, toast } from "../ui/toast.js";
import { setTopbar } from "../ui/topbar.js";

export const name = "queue";
const MINE = [
  { status: "rejected", label: "To fix", help: "rejected by a reviewer" },
  { status: "in_progress", label: "In progress", help: "claimed, not yet submitted" },
  { status: "submitted", label: "Waiting for review", help: "submitted" },
  { status: "approved", label: "Approved", help: "done" },
];

async function total(pid, query) {
  return (await get(`${paths.images(pid)}?${query}&limit=1`)).total;
}

export async function mount(root, { pid }) {
  const project = await get(paths.project(pid));
  setTopbar([{ text: "Projects", href: "/" }, { text: project.name, href: `/projects/${pid}` }, { text: "My queue" }]);
  const canLabel = project.role !== "viewer";

  const counts = h("div", { class: "queue-counts", testid: "queue-counts" });
  const remaining = h("strong", { class: "big", testid: "queue-remaining" });
  const status = h("p", { class: "muted", testid: "queue-status" });
  const start = h("button", { class: "primary big-button", testid: "queue-next", disabled: !canLabel, on: { click: next } }, "Start labeling");
  const work = h("div", { class: "col", testid: "queue-work" });

  root.append(h("section", { class: "page" },
    h("div", { class: "row spread" },
      h("h1", { text: "My queue" }),
      h("a", { class: "button", href: `/projects/${pid}`, "data-link": "", text: "Back to images" })),
    h("div", { class: "card queue-hero" },
      h("div", { class: "col" }, h("span", { class: "muted", text: "Unclaimed images left" }), remaining),
      h("div", { class: "spacer" }),
      h("div", { class: "col end" }, start, status)),
    counts,
    work,
    !canLabel && h("p", { class: "muted", text: "Viewers cannot label: ask a manager for the annotator role." })));

  async function load() {
    const [left, ...mine] = await Promise.all([
      total(pid, "status=new&assignee=none"),
      ...MINE.map((m) => total(pid, `status=${m.status}&assignee=me`)),
    ]);
    remaining.textContent = String(left);
    const assigned = mine[0] + mine[1];
    replace(counts, MINE.map((m, i) => h("div", { class: `card count status-card status-${m.status}`, testid: `queue-count-${m.status}`, dataset: { count: mine[i] } },
      h("strong", { text: String(mine[i]) }), h("span", { text: m.label }), h("span", { class: "muted small", text: m.help }))));
    start.textContent = assigned ? "Next image" : "Start labeling";
    status.textContent = assigned
      ? `${assigned} of your images ${assigned === 1 ? "needs" : "need"} work${mine[0] ? ` (${mine[0]} rejected)` : ""}; ${assigned === 1 ? "it comes" : "they come"} first.`
      : left ? "The next image is claimed for you when you start." : "Nothing is waiting: every image is claimed or done.";
    start.disabled = !canLabel || (!assigned && !left);
    await loadWork(mine[0] + mine[1]);
  }

  /** The annotator's open images (rejected first), as links; the editor's next/previous walks this list. */
  async function loadWork(n) {
    if (!n) return replace(work);
    const filter = "status=rejected&status=in_progress&assignee=me&sort=id";
    const page = await get(`${paths.images(pid)}?${filter}&limit=100`);
    const items = [...page.items].sort((a, b) => (a.status === "rejected" ? 0 : 1) - (b.status === "rejected" ? 0 : 1) || a.id - b.id);
    rememberList(pid, filter, page.items.map((i) => i.id), page.next_cursor);
    replace(work, h("h2", { text: "Your open images" }),
      h("div", { class: "grid" }, items.map((image) =>
        h("a", { class: "tile", href: `/projects/${pid}/images/${image.id}`, "data-link": "", testid: "queue-item", dataset: { id: image.id, status: image.status } },
          h("img", { src: paths.thumbnail(pid, image.id), alt: "", loading: "lazy", width: 256, height: 192 }),
          h("div", { class: "tile-info" },
            h("span", { class: "name", text: image.file_name, title: image.file_name }),
            h("span", { class: `pill status-${image.status}`, text: image.status === "rejected" ? "To fix" : "In progress" }))))));
  }

  async function next() {
    start.disabled = true;
    try {
      const answer = await get(paths.queue(pid));
      if (!answer.image) {
        toast("Nothing left to label in this project.", "ok");
        await load();
        return;
      }
      navigate(`/projects/${pid}/images/${answer.image.id}`);
    } catch (err) {
      showError(err);
      start.disabled = false;
    }
  }

  await load();
}
