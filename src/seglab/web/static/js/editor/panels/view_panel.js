// View controls: the segmentation overlay's opacity, the image's brightness and contrast, and the panoptic
// view (stuff by class, things by instance, uncovered pixels hatched in magenta, with how much is uncovered).
// Display only: nothing here is saved or undone.
import { h } from "../../dom.js";

function slider(editor, key, { min, max, step, label, format }) {
  const out = h("span", { class: "small muted view-value", text: format(editor.view[key]) });
  const input = h("input", { type: "range", min, max, step, value: editor.view[key], testid: key, "aria-label": label, title: `${label} (double-click resets)`,
    on: {
      input: () => editor.setView({ [key]: Number(input.value) }),
      dblclick: () => editor.setView({ [key]: key === "opacity" ? 1 : 100 }),
    } });
  editor.addEventListener("view", () => {
    if (Number(input.value) !== editor.view[key]) input.value = editor.view[key];
    out.textContent = format(editor.view[key]);
  });
  return h("label", { class: "row view-row" }, h("span", { class: "small view-label", text: label }), input, out);
}

export function viewPanel(editor) {
  const percent = (v) => `${Math.round(v)}%`;
  const panoptic = h("input", { type: "checkbox", testid: "panoptic-view", checked: editor.view.panoptic,
    on: { change: () => editor.setView({ panoptic: panoptic.checked }) } });
  const uncovered = h("span", { class: "small muted", testid: "panoptic-uncovered" });
  const showStats = () => {
    const stats = editor.panopticStats;
    uncovered.textContent = editor.view.panoptic && stats ? `${(stats.uncovered * 100).toFixed(1)}% not covered` : "";
    uncovered.dataset.fraction = stats ? String(stats.uncovered) : "";
  };
  editor.addEventListener("panoptic", showStats);
  editor.addEventListener("view", () => {
    panoptic.checked = editor.view.panoptic;
    showStats();
  });
  return h("section", { testid: "view-panel", class: "view-panel" },
    h("h3", { text: "View" }),
    slider(editor, "opacity", { min: 0, max: 1, step: 0.05, label: "Overlay", format: (v) => percent(v * 100) }),
    slider(editor, "brightness", { min: 20, max: 300, step: 5, label: "Brightness", format: percent }),
    slider(editor, "contrast", { min: 20, max: 300, step: 5, label: "Contrast", format: percent }),
    h("label", { class: "row view-row", title: "Stuff by class, things by instance; magenta hatching: no segment (O)" },
      panoptic, h("span", { class: "small", text: "Panoptic view" }), uncovered));
}
