// The project page's auto-labeling card: train a model on the approved images, auto-label the rest, audit
// the human labels (managers; each a background job followed live), the newest model, and the two review
// queues (uncertainty, audit suspects) everyone in the project can open.
import { get, post } from "../api.js";
import { h, modal, replace } from "../dom.js";
import { showError, toast } from "./toast.js";
import { followJob } from "./transfer.js";

const STACK = { display: "flex", flexDirection: "column", gap: "8px" };

function numberField(label, name, value, min, max, testid) {
  return h("label", { class: "row" }, h("span", { text: label, style: { minWidth: "190px" } }),
    h("input", { type: "number", name, value, min, max, step: 1, testid, style: { width: "90px" } }));
}

function scalesField() {
  return h("label", { class: "row" }, h("span", { text: "Feature scales (px)", style: { minWidth: "190px" } }),
    h("input", { name: "sigmas", placeholder: "default: 0.7 … 16", testid: "feature-scales", style: { width: "160px" },
      title: "Comma-separated filter scales in pixels; fewer and smaller scales train faster" }));
}

/** The scales typed in, or undefined for the default; throws with a message on bad input. */
function scales(body) {
  const text = body.querySelector("[name=sigmas]").value.trim();
  if (!text) return undefined;
  const values = text.split(/[,\s]+/).filter(Boolean).map(Number);
  if (!values.length || values.some((v) => !(v > 0 && v <= 64))) throw new Error("Feature scales: give numbers in (0, 64], e.g. 1, 2, 4");
  return values;
}

function describeModel(model) {
  if (!model) return "No model yet: approve a few fully labeled images, then train one.";
  const when = new Date(model.finished_at || model.created_at).toLocaleString();
  return `Model ${model.name}: ${model.classes.join(", ")} · trained on ${model.images} approved image(s) in ${model.seconds.toFixed(1)} s · ${when}`;
}

/** The card; `onChanged` runs after a job that changed what the project shows (predictions). */
export function autolabelActions(pid, canManage, onChanged = () => {}) {
  const about = h("p", { class: "muted small", testid: "autolabel-model", text: "…" });
  const jobBox = h("div", { testid: "autolabel-job" });
  let stop = null;

  async function refreshModel() {
    try {
      const models = await get(`projects/${pid}/autolabel/models`);
      about.textContent = describeModel(models[0]);
      predict.disabled = !models.length;
    } catch (err) {
      about.textContent = `Models cannot be listed: ${err.message}`;
    }
  }

  async function start(path, body, done) {
    if (stop) stop();
    try {
      const job = await post(`projects/${pid}/${path}`, body);
      stop = followJob(pid, job, jobBox, (ended, panel) => {
        const result = ended.result || {};
        const text = ended.status === "succeeded" ? done(result) : ended.status === "failed" ? `Failed: ${ended.message}` : "Cancelled.";
        panel.append(h("p", { class: ended.status === "failed" ? "error small" : "small", testid: "autolabel-outcome", text }));
        if (ended.status === "succeeded") toast(text, "ok");
        refreshModel();
        onChanged();
      });
    } catch (err) {
      showError(err);
    }
  }

  async function askTrain() {
    const body = h("div", { style: STACK },
      h("p", { class: "muted small", text: "Learns from the approved images. Unlabeled pixels of those images count as background unless the labels are scribbles." }),
      numberField("Boosting rounds", "rounds", 40, 5, 2000, "train-rounds"),
      numberField("Ensemble members", "members", 5, 1, 16, "train-members"),
      scalesField(),
      h("label", { class: "row" }, h("input", { type: "checkbox", name: "sparse", testid: "train-sparse" }), "Labels are sparse scribbles"));
    if (!(await modal("Train auto-label", body, { okText: "Train", testid: "train-dialog" }))) return;
    const value = (n) => Number(body.querySelector(`[name=${n}]`).value);
    let params;
    try {
      params = { rounds: value("rounds"), members: value("members"), sigmas: scales(body) };
    } catch (err) {
      return showError(err);
    }
    if (body.querySelector("[name=sparse]").checked) params.background = null;
    start("autolabel/train", params, (r) => `Trained ${r.model} on ${r.images} image(s) in ${Number(r.seconds).toFixed(1)} s.`);
  }

  async function askPredict() {
    const body = h("div", { style: STACK },
      h("p", { class: "muted small", text: "Predicts every image that is not approved with the newest model. Its pending predictions replace those of earlier auto-labeling; accepted and rejected ones stay." }),
      h("label", { class: "row" }, h("span", { text: "Shapes", style: { minWidth: "190px" } }),
        h("select", { name: "shape", testid: "predict-shape" }, h("option", { value: "polygon" }, "Polygons"), h("option", { value: "mask" }, "Masks"))));
    if (!(await modal("Auto-label", body, { okText: "Auto-label", testid: "predict-dialog" }))) return;
    const shape = body.querySelector("[name=shape]").value;
    start("autolabel/predict", { shape }, (r) => `${r.predictions} prediction(s) on ${r.images} image(s). Review them in the uncertainty queue.`);
  }

  async function askAudit() {
    const body = h("div", { style: STACK },
      h("p", { class: "muted small", text: "Looks for likely errors in the human labels of submitted and approved images: each image is checked by a model that never saw it, plus checks of edges, duplicates, overlaps and outliers." }),
      numberField("Cross-validation folds", "folds", 5, 2, 20, "audit-folds"),
      numberField("Boosting rounds per fold", "rounds", 60, 5, 2000, "audit-rounds"),
      scalesField());
    if (!(await modal("Audit labels", body, { okText: "Audit", testid: "audit-dialog" }))) return;
    const value = (n) => Number(body.querySelector(`[name=${n}]`).value);
    let params;
    try {
      params = { folds: value("folds"), rounds: value("rounds"), sigmas: scales(body) };
    } catch (err) {
      return showError(err);
    }
    start("audit", params, (r) => `${r.suspect_count} suspect(s) in ${r.images} image(s). Open the audit queue.`);
  }

  const train = h("button", { testid: "autolabel-train", on: { click: askTrain } }, "Train auto-label");
  const predict = h("button", { testid: "autolabel-predict", disabled: true, on: { click: askPredict } }, "Auto-label");
  const audit = h("button", { testid: "audit-start", on: { click: askAudit } }, "Audit");
  const card = h("div", { class: "card", testid: "autolabel-card", style: { ...STACK, margin: "12px 0" } },
    h("div", { class: "row" },
      h("strong", { text: "Auto-labeling" }),
      canManage && [train, predict, audit],
      h("div", { class: "spacer" }),
      h("a", { class: "button", href: `/projects/${pid}/uncertainty`, "data-link": "", testid: "open-uncertainty" }, "Uncertainty queue"),
      h("a", { class: "button", href: `/projects/${pid}/audit`, "data-link": "", testid: "open-audit" }, "Audit queue")),
    about, jobBox);
  refreshModel();
  card.dispose = () => stop && stop();
  replace(jobBox);
  return card;
}
