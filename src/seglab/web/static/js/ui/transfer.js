// Import and export dialogs: pick a format (every one the server reads and writes) and the options, send an
// archive or pick a folder on the server, then follow the job live (the jobs API, polled) until it ends:
// an import's counts or its per-object error report (a failed import changed nothing), an export's losses
// and its download link.
import { h, replace } from "../dom.js";
import { get, paths, post, upload } from "../api.js";
import { showError } from "./toast.js";

const POLL_MS = 400;
const DONE = new Set(["succeeded", "failed", "cancelled"]);
const STATUS_TEXT = { queued: "Queued", running: "Running", succeeded: "Done", failed: "Failed", cancelled: "Cancelled" };
const ARCHIVE_TYPES = ".zip,.json,.xml,.yaml,.yml";

let formatsCache = null;
/** The server's formats (cached for the session: they change only with a new server version). */
export function formats() {
  if (!formatsCache) formatsCache = get(paths.formats()).catch((err) => ((formatsCache = null), Promise.reject(err)));
  return formatsCache;
}

/** A dialog shell: a title, a body, and a close button; closing stops whatever `onClose` stops. */
function dialog(title, testid, onClose) {
  const body = h("div", { class: "col" });
  const close = () => {
    backdrop.remove();
    document.removeEventListener("keydown", onKey);
    onClose();
  };
  const onKey = (e) => e.key === "Escape" && close();
  const closeButton = h("button", { type: "button", class: "ghost small", testid: `${testid}-close`, "aria-label": "Close", on: { click: close } }, "✕");
  const box = h("div", { class: "modal transfer", role: "dialog", "aria-modal": "true", "aria-label": title, testid },
    h("div", { class: "row spread" }, h("h2", { text: title }), closeButton), body);
  const backdrop = h("div", { class: "backdrop" }, box);
  document.addEventListener("keydown", onKey);
  document.body.append(backdrop);
  return { body, close };
}

function formatSelect(list, { detect, testid, carries }) {
  const pick = h("select", { testid },
    detect && h("option", { value: "" }, "Detect the format"),
    list.map((f) => h("option", { value: f.name, title: f.description }, `${f.name} — ${f.description.split(":")[0]}`)));
  const about = h("p", { class: "muted small format-about", testid: `${testid}-about` });
  const describe = () => {
    const f = list.find((x) => x.name === pick.value);
    const text = f ? f.description.replace(/\.?$/, ".") : "";
    about.textContent = f ? `${text}${carries ? ` Carries: ${f.carries.join(", ") || "—"}.` : ""}` : "Chosen from the files' names and contents.";
  };
  pick.addEventListener("change", describe);
  describe();
  return { pick, about };
}

/**
 * Follow job `job` of project `pid` in `box` until it ends; `onEnd(job)` then shows the outcome.
 * Returns a function that stops polling (the job itself goes on; it is the server's).
 */
export function followJob(pid, job, box, onEnd) {
  let stopped = false;
  let timer = null;
  const bar = h("div", { class: "job-bar" }, h("span"));
  const label = h("span", { class: "job-status", testid: "job-status" });
  const message = h("span", { class: "muted small", testid: "job-message" });
  const cancel = h("button", { type: "button", class: "ghost small danger", testid: "job-cancel", on: { click: async () => {
    cancel.disabled = true;
    try {
      show(await post(`${paths.job(pid, job.id)}/cancel`));
    } catch (err) {
      showError(err);
    }
  } } }, "Cancel");
  const panel = h("div", { class: "job card", testid: "job-progress" }, h("div", { class: "row" }, label, h("div", { class: "spacer" }), cancel), bar, message);
  replace(box, panel);

  function show(j) {
    job = j;
    panel.dataset.status = j.status;
    panel.dataset.jobId = j.id;
    const pct = Math.round((j.status === "succeeded" ? 1 : j.progress) * 100);
    bar.firstChild.style.width = `${pct}%`;
    bar.className = `job-bar ${j.status}`;
    label.textContent = `${STATUS_TEXT[j.status] || j.status}${DONE.has(j.status) ? "" : ` · ${pct}%`}`;
    message.textContent = j.message || "";
    message.hidden = j.status === "failed"; // the outcome below says it, with what it means
    cancel.hidden = DONE.has(j.status);
  }

  async function poll() {
    if (stopped) return;
    try {
      show(await get(paths.job(pid, job.id)));
    } catch (err) {
      message.textContent = `Cannot read the job's state: ${err.message}`; // e.g. offline: keep trying
    }
    if (stopped) return;
    if (DONE.has(job.status)) return onEnd(job, panel);
    timer = setTimeout(poll, POLL_MS);
  }
  show(job);
  poll();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/** The per-object report of an import: which file, where in it, and why. */
function problemsTable(result) {
  const problems = (result && result.problems) || [];
  if (!problems.length) return null;
  const more = (result.problem_count || problems.length) - problems.length;
  return h("div", { class: "problems" },
    h("table", { testid: "import-problems" },
      h("thead", {}, h("tr", {}, h("th", { text: "File" }), h("th", { text: "Where" }), h("th", { text: "Problem" }))),
      h("tbody", {}, problems.map((p) => h("tr", { testid: "problem-row" }, h("td", { text: p.file }), h("td", { text: p.where }), h("td", { text: p.reason }))))),
    more > 0 && h("p", { class: "muted small", text: `…and ${more} more.` }));
}

function countsLine(result) {
  const skip = new Set(["problems", "problem_count", "format", "losses", "file_name", "sha256", "size"]);
  const parts = Object.entries(result || {}).filter(([k, v]) => !skip.has(k) && typeof v === "number")
    .map(([k, v]) => `${v} ${k.replaceAll("_", " ")}`);
  return parts.join(" · ");
}

/**
 * A dialog for an import or export, with the server's formats loaded: `{ body, close, list, following }`;
 * closing it calls `following.stop()` (set that to stop following the job the dialog starts).
 * Null when the formats cannot be loaded: the dialog is closed again and the error shown.
 */
async function formatsDialog(title, testid) {
  const following = { stop: () => {} };
  const { body, close } = dialog(title, testid, () => following.stop());
  body.append(h("p", { class: "muted", text: "Loading the formats…" }));
  try {
    return { body, close, list: await formats(), following };
  } catch (err) {
    close();
    showError(err);
    return null;
  }
}

/** Import into project `pid`; `onImported()` runs after a successful import (to refresh the page). */
export async function openImportDialog(pid, { onImported = () => {} } = {}) {
  const opened = await formatsDialog("Import a dataset", "import-dialog");
  if (!opened) return;
  const { body, close, list, following } = opened;

  let source = "upload";
  const tab = (value, text) => h("button", { type: "button", class: value === source ? "tab active" : "tab", testid: `import-source-${value}`,
    on: { click: () => { source = value; drawSource(); } } }, text);
  const tabs = h("div", { class: "tabs row" });
  const sourceBox = h("div", { class: "col" });
  const file = h("input", { type: "file", accept: ARCHIVE_TYPES, testid: "import-file" });
  const folderPath = h("input", { placeholder: "Folder on the server", testid: "import-folder-path", class: "grow" });
  const folderList = h("ul", { class: "plain folders", testid: "import-folders" });
  const { pick, about } = formatSelect(list, { detect: true, testid: "import-format" });
  const skip = h("input", { type: "checkbox", testid: "import-skip-invalid" });
  const error = h("p", { class: "error small", testid: "import-error", role: "alert" });
  const start = h("button", { type: "submit", class: "primary", testid: "import-start" }, "Start import");
  const progress = h("div", { class: "col" });
  const form = h("form", { class: "col", on: { submit: (e) => (e.preventDefault(), begin()) } },
    tabs, sourceBox,
    h("label", { class: "col" }, h("span", { text: "Format" }), pick), about,
    h("label", { class: "check" }, skip, "Skip invalid objects: import the rest and list what was left out (otherwise one bad object stops the whole import)"),
    error, h("div", { class: "row end" }, start));
  replace(body, form, progress);

  function drawSource() {
    replace(tabs, tab("upload", "Upload an archive"), tab("folder", "Folder on the server"));
    if (source === "upload") {
      replace(sourceBox, h("label", { class: "col" }, h("span", { class: "muted small", text: "A .zip of the dataset (images and annotations), or one annotation file for images already in the project" }), file));
    } else {
      replace(sourceBox, h("div", { class: "row" }, folderPath, h("button", { type: "button", testid: "import-folder-browse", on: { click: () => browse(folderPath.value.trim() || null) } }, "Browse")), folderList);
      if (!folderList.childElementCount) browse(null);
    }
  }

  async function browse(path) {
    try {
      const listing = await get(`${paths.importFolders(pid)}${path ? `?path=${encodeURIComponent(path)}` : ""}`);
      if (listing.path) folderPath.value = listing.path;
      const up = listing.path && h("li", {}, h("button", { type: "button", class: "ghost small", testid: "import-folder-up",
        on: { click: () => browse(listing.parent) } }, "↑ Up"));
      replace(folderList, up, listing.folders.map((f) => h("li", {},
        h("button", { type: "button", class: "ghost small folder", testid: "import-folder", dataset: { path: f.path }, on: { click: () => browse(f.path) } }, `▸ ${f.name}`))),
      listing.path && h("li", { class: "muted small", text: `${listing.file_count} file(s) here${listing.truncated ? "; more folders than shown" : ""}` }),
      !listing.folders.length && !listing.path && h("li", { class: "muted small", text: "No import folders are set up." }));
    } catch (err) {
      replace(folderList, h("li", { class: "muted small", text: err.message }));
    }
  }

  async function begin() {
    error.textContent = "";
    start.disabled = true;
    let job;
    try {
      if (source === "upload") {
        const chosen = file.files[0];
        if (!chosen) throw new Error("Choose an archive or annotation file to upload.");
        const data = new FormData();
        data.append("file", chosen, chosen.name);
        if (pick.value) data.append("format", pick.value);
        data.append("skip_invalid", skip.checked ? "true" : "false");
        const bar = h("progress", { max: 1, value: 0, testid: "upload-progress" });
        replace(progress, h("div", { class: "row" }, h("span", { class: "muted small", text: `Uploading ${chosen.name}` }), bar));
        job = await upload(paths.imports(pid), data, (f) => (bar.value = f));
      } else {
        const path = folderPath.value.trim();
        if (!path) throw new Error("Choose a folder on the server.");
        job = await post(paths.importFolder(pid), { path, format: pick.value || null, skip_invalid: skip.checked });
      }
    } catch (err) {
      error.textContent = err.message;
      start.disabled = false;
      replace(progress);
      return;
    }
    for (const el of form.elements) el.disabled = true;
    following.stop = followJob(pid, job, progress, (done, panel) => {
      const r = done.result || {};
      if (done.status === "succeeded") {
        panel.append(h("p", { class: "success", testid: "import-summary", text: `Imported (${r.format || "dataset"}): ${countsLine(r) || "nothing new"}.` }));
        onImported(done);
      } else if (done.status === "failed") {
        panel.append(h("p", { class: "error", testid: "import-failed", text: `${done.message || "The import failed"}. The project is unchanged.` }));
      }
      panel.append(problemsTable(r) || "");
      panel.append(h("div", { class: "row end" },
        done.status !== "succeeded" && h("button", { type: "button", testid: "import-retry", on: { click: () => {
          for (const el of form.elements) el.disabled = false;
          replace(progress);
        } } }, "Change and try again"),
        h("button", { type: "button", class: "primary", testid: "import-done", on: { click: close } }, "Close")));
    });
  }

  drawSource();
}

/** Export project `pid` as a zip in one of the formats; the link to download it appears when it is ready. */
export async function openExportDialog(pid) {
  const opened = await formatsDialog("Export the project", "export-dialog");
  if (!opened) return;
  const { body, close, list, following } = opened;
  const { pick, about } = formatSelect(list, { detect: false, testid: "export-format", carries: true });
  const images = h("input", { type: "checkbox", checked: true, testid: "export-include-images" });
  const start = h("button", { type: "submit", class: "primary", testid: "export-start" }, "Start export");
  const error = h("p", { class: "error small", role: "alert" });
  const progress = h("div", { class: "col" });
  const form = h("form", { class: "col", on: { submit: (e) => (e.preventDefault(), begin()) } },
    h("label", { class: "col" }, h("span", { text: "Format" }), pick), about,
    h("label", { class: "check" }, images, "Include the image files (otherwise only the annotations)"),
    error, h("div", { class: "row end" }, start));
  replace(body, form, progress);

  async function begin() {
    error.textContent = "";
    for (const el of form.elements) el.disabled = true;
    let job;
    try {
      job = await post(paths.exports(pid), { format: pick.value, include_images: images.checked });
    } catch (err) {
      error.textContent = err.message;
      for (const el of form.elements) el.disabled = false;
      return;
    }
    following.stop = followJob(pid, job, progress, async (done, panel) => {
      const r = done.result || {};
      if (done.status === "succeeded") {
        let link = null;
        try {
          link = await post(`${paths.job(pid, done.id)}/link`);
        } catch (err) {
          showError(err);
        }
        panel.append(h("p", { testid: "export-summary", text: `${r.images ?? 0} image(s), ${r.annotations ?? 0} object(s); ${formatSize(r.size)}.` }));
        if (link) {
          panel.append(h("a", { class: "button primary", href: link.url, download: r.file_name || "", testid: "export-download" }, `⬇ Download ${r.file_name || "the export"}`),
            h("p", { class: "muted small", text: `The link works until ${new Date(link.expires_at).toLocaleString()}. SHA-256 ${r.sha256 || "?"}` }));
        }
        const losses = r.losses || [];
        if (losses.length) {
          panel.append(h("details", { testid: "export-losses" }, h("summary", { text: `What ${pick.value} cannot carry (${losses.length})` }),
            h("ul", {}, losses.map((line) => h("li", { text: line })))));
        }
      } else if (done.status === "failed") {
        panel.append(h("p", { class: "error", testid: "export-failed", text: done.message || "The export failed." }));
      }
      panel.append(h("div", { class: "row end" }, h("button", { type: "button", testid: "export-done", on: { click: close } }, "Close")));
    });
  }
}

function formatSize(bytes) {
  if (!Number.isFinite(bytes)) return "size unknown";
  const units = ["B", "KB", "MB", "GB"];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) (v /= 1024), i++;
  return `${v.toFixed(i ? 1 : 0)} ${units[i]}`;
}
