// The objects panel: every object, topmost first, with its class colour, visibility and lock toggles.
// Clicking a row selects the object on the canvas (and a canvas selection highlights its row). Rows are
// drawn only for the visible part of the list, so images with thousands of objects stay quick.
import { h, replace, rgb } from "../../dom.js";
import { icon } from "../../ui/icons.js";
import { predictionsPanel } from "../predictions.js";

const ROW = 26;

export function objectsPanel(editor, autosave) {
  const spacer = h("div", { style: { position: "relative" } });
  const scroller = h("div", { class: "objects", testid: "objects-panel", role: "listbox", "aria-label": "Objects" }, spacer);
  const count = h("span", { class: "muted small", testid: "object-count" });
  const filter = h("select", { testid: "class-filter", class: "class-filter", "aria-label": "Show the objects of one class",
    on: { change: () => rebuild() } },
  h("option", { value: "" }, "All classes"), editor.classes.map((c) => h("option", { value: c.name }, c.name)));
  let order = [];

  function row(obj, i) {
    const cls = editor.classOf(obj);
    const hidden = editor.hidden.has(obj.id);
    const locked = editor.locked.has(obj.id);
    const sid = autosave ? autosave.serverIdOf(obj.id) : obj.id;
    return h("div", {
      class: ["obj", obj.id === editor.selectedId && "selected", hidden && "hidden-obj"], role: "option", testid: "object-row",
      dataset: { id: String(obj.id), kind: obj.kind, label: obj.label },
      "aria-selected": String(obj.id === editor.selectedId),
      style: { position: "absolute", top: `${i * ROW}px`, left: "0", right: "0", height: `${ROW - 2}px` },
      on: { click: () => { editor.select(obj.id); editor.reveal(obj.id); } },
    },
    h("span", { class: "swatch", style: { background: rgb(cls.color) } }),
    h("span", { class: "name", text: obj.label, title: obj.label }),
    h("span", { class: "kind", text: `${obj.kind}${sid !== null && sid > 0 ? ` #${sid}` : ""}` }),
    h("button", { class: hidden ? "off" : "", title: hidden ? "Show" : "Hide", testid: "toggle-visible",
      "aria-pressed": String(!hidden), on: { click: (e) => { e.stopPropagation(); editor.toggleHidden(obj.id); } } }, icon("eye", 15)),
    h("button", { class: locked ? "" : "off", title: locked ? "Unlock" : "Lock", testid: "toggle-lock",
      "aria-pressed": String(locked), on: { click: (e) => { e.stopPropagation(); editor.toggleLocked(obj.id); } } }, icon("lock", 15)));
  }

  function paint() {
    const first = Math.max(0, Math.floor(scroller.scrollTop / ROW) - 5);
    const last = Math.min(order.length, first + Math.ceil((scroller.clientHeight || 400) / ROW) + 10);
    replace(spacer, order.slice(first, last).map((obj, k) => row(obj, first + k)));
  }

  function rebuild() {
    const all = editor.drawOrder();
    order = [...all].reverse();
    if (filter.value) order = order.filter((o) => o.label === filter.value);
    spacer.style.height = `${order.length * ROW}px`;
    count.textContent = filter.value ? `${order.length} of ${all.length}` : String(order.length);
    paint();
  }

  function revealSelected() {
    const i = order.findIndex((o) => o.id === editor.selectedId);
    if (i >= 0 && (i * ROW < scroller.scrollTop || (i + 1) * ROW > scroller.scrollTop + scroller.clientHeight)) {
      scroller.scrollTop = Math.max(0, i * ROW - scroller.clientHeight / 2);
    }
    paint();
  }

  scroller.addEventListener("scroll", paint, { passive: true });
  editor.doc.addEventListener("change", rebuild);
  editor.addEventListener("selection", revealSelected);
  editor.addEventListener("visibility", paint);
  if (autosave) autosave.addEventListener("saved", paint);
  rebuild();
  return [predictionsPanel(editor, autosave), h("section", { class: "grow" }, h("h3", {}, "Objects ", count), filter, scroller)];
}
