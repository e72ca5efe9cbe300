// One class of the ontology: name, colour, thing/stuff, allowed shapes, attributes and skeleton.
import { colorFromHex, h, hexColor } from "../dom.js";
import { attributesForm } from "./attributes_form.js";
import { skeletonForm } from "./skeleton_form.js";

export const SHAPES = ["box", "polygon", "polyline", "keypoints", "mask"];

export function classForm(cls, { onChange, onRemove }) {
  const swatch = h("span", { class: "swatch", style: { background: hexColor(cls.color) } });
  const name = h("input", { value: cls.name, placeholder: "class name", required: true, maxlength: 200, testid: "class-name",
    on: { input: () => { cls.name = name.value; onChange(); } } });
  const color = h("input", { type: "color", value: hexColor(cls.color), testid: "class-color", on: { input: () => {
    cls.color = colorFromHex(color.value);
    swatch.style.background = color.value;
    onChange();
  } } });
  const kind = h("select", { value: cls.kind, testid: "class-kind", on: { change: () => { cls.kind = kind.value; onChange(); } } },
    h("option", { value: "thing" }, "thing (countable)"), h("option", { value: "stuff" }, "stuff (amorphous)"));
  const shapes = h("div", { class: "row wrap shapes" }, SHAPES.map((s) => {
    const box = h("input", { type: "checkbox", checked: cls.shapes.includes(s), testid: `class-shape-${s}`, on: { change: () => {
      cls.shapes = SHAPES.filter((t) => (t === s ? box.checked : cls.shapes.includes(t)));
      skeletonBox.hidden = !cls.shapes.includes("keypoints");
      onChange();
    } } });
    return h("label", { class: "check" }, box, s);
  }));
  // Boxes of this class may be rotated in the editor (the class's `extra.rotatable`, which exports keep).
  const rotate = h("input", { type: "checkbox", checked: Boolean((cls.extra || {}).rotatable), testid: "class-rotatable",
    on: { change: () => {
      cls.extra = { ...(cls.extra || {}) };
      if (rotate.checked) cls.extra.rotatable = true;
      else delete cls.extra.rotatable;
      onChange();
    } } });
  shapes.append(h("label", { class: "check", title: "Boxes of this class can be rotated in the editor" }, rotate, "rotated boxes"));
  const skeletonBox = h("div", { hidden: !cls.shapes.includes("keypoints") && !cls.skeleton },
    h("h4", { text: "Skeleton" }), skeletonForm(cls, onChange));
  return h("div", { class: "card class-card", testid: "class-card" },
    h("div", { class: "row" }, swatch, name, color, kind,
      h("div", { class: "spacer" }),
      h("button", { type: "button", class: "ghost small danger", testid: "remove-class", on: { click: onRemove } }, "Remove")),
    h("div", { class: "muted small", text: "Allowed shapes (none ticked: all)" }),
    shapes,
    h("h4", { text: "Attributes" }),
    attributesForm(cls, onChange),
    skeletonBox);
}
