// The audit queue: likely errors in the human labels (from the newest audit), most likely first. Each row
// opens the image in the editor with the suspect object selected and its place framed.
import { h, replace } from "../dom.js";
import { get, paths } from "../api.js";
import { rememberList } from "../nav.js";
import { setTopbar } from "../ui/topbar.js";

export const name = "audit";
const PAGE = 50;
const KINDS = { "": "All kinds", missing: "Missing object", spurious: "Spurious object", wrong_class: "Wrong class", boundary: "Sloppy boundary", other: "Other" };

/** The editor link of a suspect: its object (if any), its box and the reason travel in the query. */
export function suspectHref(pid, s) {
  const q = new URLSearchParams();
  if (s.annotation_id !== null) q.set("object", String(s.annotation_id));
  if (s.box) q.set("box", s.box.join(","));
  q.set("why", `${KINDS[s.kind] || s.kind} (${s.score.toFixed(2)}): ${s.explanation}`);
  return `/projects/${pid}/images/${s.image_id}?${q}`;
}

export async function mount(root, { pid }, query) {
  const project = await get(paths.project(pid));
  setTopbar([{ text: "Projects", href: "/" }, { text: project.name, href: `/projects/${pid}` }, { text: "Audit queue" }]);
  let kind = query.get("kind") || "";
  let offset = 0;
  let ids = [];
  const body = h("tbody");
  const info = h("p", { class: "muted", testid: "audit-total" });
  const more = h("button", { class: "ghost", hidden: true, on: { click: () => load(false) } }, "Load more");
  const filter = h("select", { testid: "audit-kind", on: { change: () => { kind = filter.value; load(true); } } },
    Object.entries(KINDS).map(([k, text]) => h("option", { value: k }, text)));
  filter.value = kind;

  function row(s) {
    const href = suspectHref(pid, s);
    return h("tr", { testid: "audit-row", dataset: { image: String(s.image_id), kind: s.kind } },
      h("td", { text: String(s.rank) }),
      h("td", {}, h("strong", { text: s.score.toFixed(2) })),
      h("td", {}, h("span", { class: "pill", text: KINDS[s.kind] || s.kind })),
      h("td", {}, h("a", { href, "data-link": "", testid: "audit-open", text: s.file_name })),
      h("td", { text: s.annotation_id === null ? "—" : `${s.label || ""} #${s.annotation_id}` }),
      h("td", { class: "small", text: s.explanation }));
  }

  async function load(reset) {
    if (reset) {
      offset = 0;
      ids = [];
      replace(body);
      history.replaceState({}, "", `/projects/${pid}/audit${kind ? `?kind=${kind}` : ""}`);
    }
    const page = await get(`projects/${pid}/audit/suspects?limit=${PAGE}&offset=${offset}${kind ? `&kind=${kind}` : ""}`);
    body.append(...page.items.map(row));
    for (const s of page.items) if (!ids.includes(s.image_id)) ids.push(s.image_id);
    rememberList(pid, "sort=id", ids, null);
    offset += page.items.length;
    info.textContent = page.audit_job_id === null
      ? "No audit yet: run one from the project page (Audit)."
      : `${page.total} suspect(s) from audit job ${page.audit_job_id}, most likely first.`;
    more.hidden = offset >= page.total;
  }

  root.append(h("section", { class: "page" },
    h("div", { class: "row spread" }, h("h1", { text: "Audit queue" }), filter),
    info,
    h("table", { class: "members card", testid: "audit-table" },
      h("thead", {}, h("tr", {}, ["#", "Score", "Kind", "Image", "Object", "Why"].map((t) => h("th", { text: t })))),
      body),
    more));
  await load(true);
}
