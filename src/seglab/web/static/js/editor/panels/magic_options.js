// Options of the magic tool: clicks or scribbles, the method, polygon or mask, the polygon's simplification,
// "allow overlap", and a live status line (asking, the answer's size, the server's error).
import { h } from "../../dom.js";
import { magicState } from "../tools/magic.js";

const STATUS = {
  idle: () => "Click on an object.",
  busy: () => "Segmenting…",
  empty: () => "Nothing found there: click elsewhere or change the method.",
  error: (tool) => `Not segmented: ${tool.message}`,
};

function statusText(tool) {
  if (tool.status === "ready") {
    const a = tool.answer;
    return `${a.area.toLocaleString()} px (${a.method}, ${a.seconds.toFixed(2)} s). Enter adds it, Esc cancels.`;
  }
  return STATUS[tool.status](tool);
}

/**
 * The option rows, and a listener that keeps the status line current without rebuilding the rows. A control
 * gives the focus back once changed, so Enter and Esc reach the tool again (keys typed into a focused
 * control are not shortcuts).
 */
export function magicOptions(editor, tool) {
  const mode = [["click", "Click / box"], ["scribble", "Scribble (S)"]].map(([m, text]) =>
    h("button", { class: ["small", (m === "scribble") === magicState.scribble && "active"], testid: `magic-mode-${m}`,
      on: { click: () => tool.setScribble(m === "scribble") } }, text));
  const method = h("select", { testid: "magic-method", title: "Segmentation method", value: magicState.method,
    on: { change: () => { magicState.method = method.value; method.blur(); tool.optionsChanged({ restart: true }); } } },
  magicState.methods.map((m) => h("option", { value: m, text: m })));
  const output = h("select", { testid: "magic-output", title: "Add the result as", value: magicState.output,
    on: { change: () => { magicState.output = output.value; output.blur(); editor.dispatchEvent(new CustomEvent("tool")); } } },
  h("option", { value: "polygon", text: "polygon" }), h("option", { value: "mask", text: "mask" }));
  const tolerance = h("input", { type: "number", min: 0, max: 20, step: 0.5, value: magicState.tolerance, testid: "magic-tolerance",
    title: "Polygon simplification in pixels (0: the mask's exact outline)",
    on: { change: () => {
      const v = Number(tolerance.value);
      tolerance.blur();
      if (Number.isFinite(v) && v >= 0 && v <= 100) magicState.tolerance = v, tool.optionsChanged();
      else tolerance.value = magicState.tolerance;
    } } });
  const overlap = h("input", { type: "checkbox", checked: magicState.allowOverlap, testid: "magic-allow-overlap",
    on: { change: () => { magicState.allowOverlap = overlap.checked; overlap.blur(); tool.optionsChanged({ restart: true }); } } });
  const status = h("p", { class: "small muted magic-status", testid: "magic-status", "aria-live": "polite" });
  const sync = () => {
    if (!status.isConnected) return editor.removeEventListener("magic", sync);
    status.textContent = statusText(tool);
    status.dataset.state = tool.status;
  };
  editor.addEventListener("magic", sync);
  status.textContent = statusText(tool);
  status.dataset.state = tool.status;
  return h("div", { class: "col magic-options" },
    h("div", { class: "row" }, mode),
    h("label", { class: "row" }, h("span", { class: "small", text: "Method" }), method),
    h("label", { class: "row" }, h("span", { class: "small", text: "Add as" }), output),
    magicState.output === "polygon" && h("label", { class: "row" },
      h("span", { class: "small", text: "Simplify by" }), tolerance, h("span", { class: "small", text: "px (0: exact outline)" })),
    h("label", { class: "row" }, overlap, h("span", { class: "small", text: "Allow overlap with existing segments" })),
    status);
}
