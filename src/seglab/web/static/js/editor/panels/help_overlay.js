// The keyboard help (?), written from the keymap table.
import { h } from "../../dom.js";
import { KEYMAP } from "../keymap.js";

export function helpOverlay(onClose) {
  const sections = [...new Set(KEYMAP.map((k) => k.section))];
  return h("div", { class: "overlay", testid: "help-overlay", role: "dialog", "aria-label": "Keyboard shortcuts", on: { click: onClose } },
    h("h2", { text: "Keyboard shortcuts" }),
    h("table", {}, sections.map((section) => [
      h("tr", {}, h("td", { colspan: 2 }, h("strong", { text: section }))),
      KEYMAP.filter((k) => k.section === section).map((k) =>
        h("tr", {}, h("td", {}, k.keys.map((key, i) => [i ? " " : "", h("kbd", { text: key })])), h("td", { text: k.what }))),
    ])),
    h("p", { class: "muted", style: { textAlign: "center" }, text: "Press ? or click anywhere to close." }));
}
