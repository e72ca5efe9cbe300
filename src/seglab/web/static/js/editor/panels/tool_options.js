// Options of the active tool: brush size, the polygon's mode (new / hole / part), the skeleton's points.
import { h, replace } from "../../dom.js";
import { brushState } from "../tools/brush.js";
import { magicOptions } from "./magic_options.js";

export function toolOptions(editor) {
  const box = h("section", { testid: "tool-options" });
  const sync = () => {
    const tool = editor.tool;
    if (!tool) return replace(box);
    const title = h("h3", { text: tool.label });
    if (tool.name === "brush" || tool.name === "eraser") {
      const size = h("input", { type: "range", min: 1, max: 200, value: brushState.radius, testid: "brush-size",
        on: { input: () => { brushState.radius = Number(size.value); editor.requestRender(); label.textContent = `${brushState.radius * 2} px`; } } });
      const label = h("span", { class: "small", text: `${brushState.radius * 2} px` });
      return replace(box, title, h("div", { class: "row" }, size, label));
    }
    if (tool.name === "polygon") {
      const modes = [["new", "New"], ["hole", "Hole (H)"], ["part", "Part (U)"]].map(([m, text]) =>
        h("button", { class: ["small", tool.mode === m && "active"], testid: `polygon-mode-${m}`,
          on: { click: () => tool.setMode(m === "new" ? tool.mode : m) } }, text));
      return replace(box, title, h("div", { class: "row" }, modes));
    }
    if (tool.name === "magic") return replace(box, title, magicOptions(editor, tool));
    if (tool.name === "keypoints") {
      const progress = tool.progress();
      if (!progress) return replace(box, title, h("p", { class: "small muted", text: "Pick a class with a skeleton." }));
      const items = progress.names.map((name, i) => {
        const placed = progress.placed[i];
        const cls = i === progress.placed.length ? "current" : placed && placed[2] === 0 ? "skipped" : "";
        return h("li", { class: cls, text: `${i + 1}. ${name}${placed && placed[2] === 1 ? " (occluded)" : ""}` });
      });
      return replace(box, title, h("ol", { class: "plain kp-list", testid: "keypoint-list" }, items));
    }
    replace(box, title, h("p", { class: "small muted", text: typeof tool.hint === "string" ? tool.hint : tool.hint }));
  };
  editor.addEventListener("tool", sync);
  editor.addEventListener("class", sync);
  sync();
  return box;
}
