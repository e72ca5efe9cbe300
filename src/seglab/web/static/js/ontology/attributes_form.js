// The attribute list of one class: name, type, choices and default, edited in place on `cls.attributes`.
import { h, replace } from "../dom.js";

const TYPES = ["bool", "number", "text", "choice"];

export function attributesForm(cls, onChange) {
  const box = h("div", { class: "attributes" });

  function parseDefault(attr, text) {
    if (text === "") return null;
    if (attr.type === "bool") return text === "true";
    if (attr.type === "number") return Number.isFinite(Number(text)) ? Number(text) : null;
    return text;
  }

  function row(attr, index) {
    const name = h("input", { value: attr.name, placeholder: "attribute", testid: "attribute-name", maxlength: 200,
      on: { input: () => { attr.name = name.value; onChange(); } } });
    const type = h("select", { value: attr.type, testid: "attribute-type", on: { change: () => { attr.type = type.value; attr.default = null; draw(); onChange(); } } },
      TYPES.map((t) => h("option", { value: t }, t)));
    const choices = h("input", {
      value: (attr.choices || []).join(", "), placeholder: "choices, comma separated", testid: "attribute-choices",
      hidden: attr.type !== "choice",
      on: { input: () => { attr.choices = choices.value.split(",").map((c) => c.trim()).filter(Boolean); onChange(); } },
    });
    const fallback = h("input", {
      value: attr.default === null || attr.default === undefined ? "" : String(attr.default), placeholder: "default",
      on: { input: () => { attr.default = parseDefault(attr, fallback.value.trim()); onChange(); } },
    });
    const remove = h("button", { type: "button", class: "ghost small", title: "Remove attribute",
      on: { click: () => { cls.attributes.splice(index, 1); draw(); onChange(); } } }, "✕");
    return h("div", { class: "row attr" }, name, type, choices, fallback, remove);
  }

  function draw() {
    replace(box,
      (cls.attributes || []).map(row),
      h("button", { type: "button", class: "ghost small", testid: "add-attribute",
        on: { click: () => { cls.attributes.push({ name: "", type: "text", choices: [], default: null }); draw(); onChange(); } } }, "+ attribute"));
  }
  draw();
  return box;
}
