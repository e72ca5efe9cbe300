// The uncertainty review queue: auto-labeled images, most uncertain first, each opening in the editor with
// its predictions and heat map; Next / Prev in the editor then walk the queue in this order.
import { h, replace } from "../dom.js";
import { get, paths } from "../api.js";
import { rememberList } from "../nav.js";
import { setTopbar } from "../ui/topbar.js";

export const name = "uncertainty";
const PAGE = 50;
const SORTS = { max_object: "most uncertain object", mean: "mean pixel uncertainty", p90: "90th percentile of pixel uncertainty", uncertain_fraction: "share of doubtful pixels" };

function pct(v) {
  return `${Math.round(v * 100)}%`;
}

export async function mount(root, { pid }, query) {
  const project = await get(paths.project(pid));
  setTopbar([{ text: "Projects", href: "/" }, { text: project.name, href: `/projects/${pid}` }, { text: "Uncertainty queue" }]);
  let by = query.get("by") || "max_object";
  let offset = 0;
  const body = h("tbody");
  const info = h("p", { class: "muted", testid: "uncertainty-total" });
  const more = h("button", { class: "ghost", hidden: true, on: { click: () => load(false) } }, "Load more");
  const sort = h("select", { testid: "uncertainty-sort", on: { change: () => { by = sort.value; load(true); } } },
    Object.entries(SORTS).map(([k, text]) => h("option", { value: k }, text)));
  sort.value = by;
  let ids = [];

  function bar(value) {
    return h("span", { style: { display: "inline-block", width: "80px", height: "8px", background: "#e5e7eb", borderRadius: "4px", overflow: "hidden", verticalAlign: "middle", marginRight: "6px" } },
      h("span", { style: { display: "block", height: "100%", width: pct(value), background: value > 0.5 ? "#ef4444" : value > 0.25 ? "#f59e0b" : "#10b981" } }));
  }

  function row(item, rank) {
    const href = `/projects/${pid}/images/${item.image_id}`;
    return h("tr", { testid: "uncertainty-row", dataset: { id: String(item.image_id) } },
      h("td", { text: String(rank) }),
      h("td", {}, h("a", { href, "data-link": "" }, h("img", { src: paths.thumbnail(pid, item.image_id, 128), alt: "", width: 96, height: 72, loading: "lazy", style: { objectFit: "contain", background: "#111827", borderRadius: "4px" } }))),
      h("td", {}, h("a", { href, "data-link": "", testid: "uncertainty-open", text: item.file_name })),
      h("td", {}, bar(item[by]), h("span", { text: by === "max_object" ? item.max_object.toFixed(2) : pct(item[by]) }),
        h("div", { class: "muted small", text: `mean ${pct(item.mean)} · doubtful pixels ${pct(item.uncertain_fraction)}` })),
      h("td", { text: `${item.uncertain_objects} of ${item.objects}` }),
      h("td", { text: String(item.pending) }),
      h("td", {}, h("span", { class: `pill status-${item.status}`, text: item.status.replace("_", " ") })),
      h("td", { class: "muted small", text: item.model }));
  }

  async function load(reset) {
    if (reset) {
      offset = 0;
      ids = [];
      replace(body);
      history.replaceState({}, "", `/projects/${pid}/uncertainty?by=${by}`);
    }
    const page = await get(`projects/${pid}/autolabel/queue?by=${by}&limit=${PAGE}&offset=${offset}`);
    body.append(...page.items.map((item, i) => row(item, offset + i + 1)));
    ids.push(...page.items.map((i) => i.image_id));
    rememberList(pid, "sort=id", ids, null);
    offset += page.items.length;
    info.textContent = page.total
      ? `${page.total} auto-labeled image(s) waiting, most uncertain first. Open one to accept or reject its predictions.`
      : "Nothing to review: auto-label the project first (project page → Auto-label).";
    more.hidden = offset >= page.total;
  }

  root.append(h("section", { class: "page" },
    h("div", { class: "row spread" }, h("h1", { text: "Uncertainty queue" }), h("label", { class: "row" }, "Sort by ", sort)),
    info,
    h("table", { class: "members card", testid: "uncertainty-table" },
      h("thead", {}, h("tr", {}, ["#", "", "Image", "Uncertainty", "Doubtful objects", "Pending", "Status", "Model"].map((t) => h("th", { text: t })))),
      body),
    more));
  await load(true);
}
