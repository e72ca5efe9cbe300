// The tool column: one button per tool with its shortcut, kept in sync with the active tool.
import { h } from "../../dom.js";
import { icon } from "../../ui/icons.js";
import { TOOL_ORDER } from "../tools/registry.js";

export function toolbar(editor, controller) {
  const buttons = new Map();
  const bar = h("nav", { class: "ed-tools", "aria-label": "Tools" });
  for (const name of TOOL_ORDER) {
    const tool = editor.tools.get(name);
    if (!tool || (editor.readOnly && name !== "select")) continue;
    const button = h("button", {
      testid: `tool-${name}`, title: `${tool.label} (${tool.key.toUpperCase()})`, "aria-label": tool.label,
      on: { click: () => editor.setTool(name) },
    }, icon(tool.icon), h("span", { class: "key", text: tool.key.toUpperCase() }));
    buttons.set(name, button);
    bar.append(button);
  }
  bar.append(h("hr"),
    h("button", { testid: "zoom-fit", title: "Fit (F)", on: { click: () => controller.fit() } }, icon("fit")),
    h("button", { testid: "zoom-actual", title: "Actual size 1:1 (=)", on: { click: () => controller.actualSize() } }, "1:1"),
    h("button", { testid: "help", title: "Keyboard shortcuts (?)", on: { click: () => controller.toggleHelp() } }, "?"));
  const sync = () => {
    for (const [name, b] of buttons) {
      b.classList.toggle("active", editor.tool && editor.tool.name === name);
      b.setAttribute("aria-pressed", String(editor.tool && editor.tool.name === name));
    }
  };
  editor.addEventListener("tool", sync);
  sync();
  return bar;
}
