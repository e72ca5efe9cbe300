// Commands on the selected object, beside the objects panel: mask -> polygon (with its simplification
// tolerance) and polygon -> mask, copy and paste. Buttons are enabled only when the command applies.
import { h } from "../../dom.js";
import { canConvert, copySelection, paste, readClipboard, simplifyState, convertSelected } from "../commands.js";

export function objectCommands(editor) {
  const toPolygon = h("button", { class: "small", testid: "convert-to-polygon", title: "Trace the mask's outline and holes (C)",
    on: { click: () => convertSelected(editor, "polygon") } }, "Mask → polygon");
  const toMask = h("button", { class: "small", testid: "convert-to-mask", title: "Fill the polygon's pixels (C)",
    on: { click: () => convertSelected(editor, "mask") } }, "Polygon → mask");
  const tolerance = h("input", { type: "number", min: 0, max: 20, step: 0.1, value: simplifyState.tolerance, testid: "simplify-tolerance",
    title: "Simplification tolerance in pixels (0: follow every pixel edge)", style: { width: "58px" },
    on: { change: () => { simplifyState.tolerance = Math.max(0, Number(tolerance.value) || 0); } } });
  const copy = h("button", { class: "small", testid: "copy-object", title: "Copy the selection (Ctrl+C)", on: { click: () => copySelection(editor) } }, "Copy");
  const pasteButton = h("button", { class: "small", testid: "paste-object", title: "Paste as new objects, also in another image (Ctrl+V)",
    on: { click: () => paste(editor) } }, "Paste");

  const sync = () => {
    const sel = editor.selected;
    toPolygon.disabled = !canConvert(editor, sel, "polygon");
    toMask.disabled = !canConvert(editor, sel, "mask");
    copy.disabled = !sel;
    pasteButton.disabled = editor.readOnly || !readClipboard();
  };
  editor.addEventListener("selection", sync);
  editor.doc.addEventListener("change", sync);
  window.addEventListener("storage", sync); // a copy in another tab
  editor.addEventListener("clipboard", sync);
  sync();
  return h("section", { testid: "object-commands" }, h("h3", { text: "Convert and copy" }),
    h("div", { class: "row wrap" }, toPolygon, h("label", { class: "row small", title: tolerance.title }, "tol.", tolerance, "px"), toMask),
    h("div", { class: "row wrap", style: { marginTop: "6px" } }, copy, pasteButton));
}
