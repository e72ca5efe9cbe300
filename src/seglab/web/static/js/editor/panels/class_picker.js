// The class picker: the ontology's classes with colour and number key; classes the active tool cannot draw
// are dimmed. With the select tool, picking a class relabels the selected object.
import { h, rgb } from "../../dom.js";

export function classPicker(editor) {
  const list = h("div", { class: "class-picker", testid: "class-picker", role: "listbox", "aria-label": "Classes" });
  const buttons = editor.classes.map((cls, i) => {
    const b = h("button", {
      role: "option", dataset: { name: cls.name }, testid: "class-option",
      on: { click: () => editor.setClass(cls.name) },
    },
    h("span", { class: "swatch", style: { background: rgb(cls.color) } }),
    h("span", { class: "name", text: cls.name, title: cls.name }),
    h("span", { class: "key", text: i < 9 ? String(i + 1) : "" }));
    list.append(b);
    return b;
  });
  if (!editor.classes.length) list.append(h("p", { class: "muted small", text: "This project has no classes yet: add them in the ontology." }));
  const sync = () => {
    const kind = editor.tool && editor.tool.kind;
    editor.classes.forEach((cls, i) => {
      const active = cls.name === editor.currentClass;
      buttons[i].classList.toggle("active", active);
      buttons[i].setAttribute("aria-selected", String(active));
      buttons[i].style.opacity = kind && !editor.classAllows(cls.name, kind) ? "0.4" : "1";
    });
  };
  editor.addEventListener("class", sync);
  editor.addEventListener("tool", sync);
  sync();
  return h("section", {}, h("h3", { text: "Class" }), list);
}
