// A project: progress per status, the image grid with thumbnails, a status filter, search and upload.
import { h, replace } from "../dom.js";
import { get, paths, request } from "../api.js";
import { rememberList } from "../nav.js";
import { navigate } from "../router.js";
import { showError, toast } from "../ui/toast.js";
import { setTopbar } from "../ui/topbar.js";
import { openExportDialog, openImportDialog } from "../ui/transfer.js";
import { autolabelActions } from "../ui/autolabel_actions.js";

export const name = "project";
const STATUSES = ["new", "in_progress", "submitted", "approved", "rejected"];
const LABELS = { new: "New", in_progress: "In progress", submitted: "Submitted", approved: "Approved", rejected: "Rejected" };

export async function mount(root, { pid }, query) {
  const project = await get(paths.project(pid));
  const canManage = ["manager", "owner"].includes(project.role);
  setTopbar([{ text: "Projects", href: "/" }, { text: project.name }]);

  let status = query.get("status") || "";
  let search = query.get("q") || "";
  let ids = [];
  let cursor = null;

  const progress = h("div", { class: "progress", testid: "progress" });
  const grid = h("div", { class: "grid", testid: "image-grid" });
  const more = h("button", { class: "ghost", hidden: true, on: { click: () => loadPage(false) } }, "Load more");
  const filter = h("select", { testid: "status-filter", value: status, on: { change: () => { status = filter.value; refresh(); } } },
    h("option", { value: "" }, "All statuses"),
    STATUSES.map((s) => h("option", { value: s }, LABELS[s])));
  filter.value = status;
  let searchTimer = null;
  const searchBox = h("input", {
    type: "search", placeholder: "Search file names", value: search, testid: "image-search",
    on: { input: () => {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(() => { search = searchBox.value.trim(); refresh(); }, 250);
    } },
  });
  const fileInput = h("input", { type: "file", multiple: true, accept: "image/png,image/jpeg,image/tiff,image/bmp,image/webp", testid: "upload-input", hidden: true, on: { change: () => upload([...fileInput.files]) } });
  const uploadButton = h("button", { class: "primary", testid: "upload", on: { click: () => fileInput.click() } }, "Upload images");

  root.append(h("section", { class: "page" },
    h("div", { class: "row spread" },
      h("div", {}, h("h1", { text: project.name }), h("p", { class: "muted", text: project.description })),
      h("div", { class: "row" },
        h("button", { testid: "start-labeling", class: "primary", on: { click: startLabeling } }, "Start labeling"),
        h("a", { class: "button", href: `/projects/${pid}/queue`, "data-link": "", testid: "open-queue" }, "My queue"),
        h("a", { class: "button", href: `/projects/${pid}/review`, "data-link": "", testid: "open-review" }, "Review"),
        h("a", { class: "button", href: `/projects/${pid}/members`, "data-link": "", testid: "open-members" }, "Members"),
        h("a", { class: "button", href: `/projects/${pid}/ontology`, "data-link": "", testid: "open-ontology" }, "Ontology"))),
    progress,
    autolabelActions(pid, canManage, () => refresh()),
    h("div", { class: "row toolbar-row" }, filter, searchBox, h("div", { class: "spacer" }), canManage && [fileInput, uploadButton,
      h("button", { testid: "open-import", on: { click: () => openImportDialog(pid, { onImported: refresh }) } }, "Import…")],
    h("button", { testid: "open-export", on: { click: () => openExportDialog(pid) } }, "Export…")),
    h("div", { class: "dropzone", on: { dragover: (e) => e.preventDefault(), drop: onDrop } }, grid),
    more));

  function filterQuery() {
    const q = new URLSearchParams();
    if (status) q.set("status", status);
    if (search) q.set("q", search);
    q.set("sort", "id");
    return q.toString();
  }

  async function loadProgress() {
    const counts = await Promise.all(STATUSES.map((s) => get(`${paths.images(pid)}?status=${s}&limit=1`).then((r) => r.total)));
    const total = counts.reduce((a, b) => a + b, 0);
    const done = counts[STATUSES.indexOf("approved")];
    const bar = h("div", { class: "bar" }, STATUSES.map((s, i) =>
      h("span", { class: `seg status-${s}`, style: { flexGrow: String(counts[i]) }, title: `${LABELS[s]}: ${counts[i]}` })));
    replace(progress,
      h("div", { class: "row" },
        h("strong", { text: `${done} of ${total} approved` }),
        STATUSES.map((s, i) => h("span", { class: `pill status-${s}`, testid: `count-${s}`, text: `${LABELS[s]} ${counts[i]}` }))),
      total ? bar : null);
  }

  let generation = 0; // a newer filter wins over answers still on their way

  async function loadPage(reset) {
    const mine = reset ? ++generation : generation;
    const q = new URLSearchParams(filterQuery());
    q.set("limit", "60");
    if (!reset && cursor) q.set("cursor", cursor);
    const page = await get(`${paths.images(pid)}?${q}`);
    if (mine !== generation) return;
    if (reset) {
      ids = [];
      grid.replaceChildren();
    }
    cursor = page.next_cursor;
    ids.push(...page.items.map((i) => i.id));
    rememberList(pid, filterQuery(), ids, cursor);
    grid.append(...page.items.map(tile));
    if (reset && !page.items.length) grid.append(h("p", { class: "muted pad", text: status || search ? "No images match." : "No images yet." }));
    more.hidden = !cursor;
  }

  function tile(image) {
    return h("a", { class: "tile", href: `/projects/${pid}/images/${image.id}`, "data-link": "", testid: "image-tile", dataset: { id: image.id, status: image.status } },
      h("img", { src: paths.thumbnail(pid, image.id), alt: "", loading: "lazy", width: 256, height: 192 }),
      h("div", { class: "tile-info" },
        h("span", { class: "name", text: image.file_name, title: image.file_name }),
        h("span", { class: `pill status-${image.status}`, text: LABELS[image.status] })));
  }

  async function refresh() {
    const q = filterQuery().replace(/&?sort=id/, "");
    history.replaceState({}, "", `/projects/${pid}${q ? `?${q}` : ""}`);
    await Promise.all([loadPage(true), loadProgress()]).catch(showError);
  }

  async function upload(files) {
    if (!files.length) return;
    const form = new FormData();
    files.forEach((f) => form.append("files", f, f.name));
    uploadButton.disabled = true;
    uploadButton.textContent = `Uploading ${files.length}…`;
    try {
      const { body } = await request("POST", paths.images(pid), { body: form });
      toast(`Uploaded ${body.length} image(s)`, "ok");
      await refresh();
    } catch (err) {
      showError(err);
    } finally {
      uploadButton.disabled = false;
      uploadButton.textContent = "Upload images";
      fileInput.value = "";
    }
  }

  function onDrop(e) {
    e.preventDefault();
    if (canManage) upload([...e.dataTransfer.files]);
  }

  async function startLabeling() {
    try {
      const next = await get(paths.queue(pid));
      if (next.image) navigate(`/projects/${pid}/images/${next.image.id}`);
      else toast("Nothing left to label in this project.", "ok");
    } catch (err) {
      showError(err);
    }
  }

  await refresh();
}
