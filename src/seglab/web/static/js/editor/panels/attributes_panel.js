// The selected object: its class, attributes (typed fields from the ontology), z-order and delete.
import { h, replace } from "../../dom.js";

function field(spec, value, set) {
  const label = spec.name;
  if (spec.type === "bool") {
    const box = h("input", { type: "checkbox", checked: Boolean(value), on: { change: () => set(box.checked) } });
    return h("label", { class: "check" }, box, label);
  }
  if (spec.type === "choice") {
    const select = h("select", { on: { change: () => set(select.value === "" ? undefined : select.value) } },
      h("option", { value: "", text: "—" }), spec.choices.map((c) => h("option", { value: c, text: c })));
    select.value = value ?? "";
    return h("label", {}, label, select);
  }
  const number = spec.type === "number";
  const input = h("input", {
    type: number ? "number" : "text", value: value ?? "", min: spec.minimum ?? undefined, max: spec.maximum ?? undefined,
    step: number ? "any" : undefined,
    on: { change: () => {
      if (input.value === "") return set(undefined);
      if (number) return Number.isFinite(Number(input.value)) && set(Number(input.value));
      return set(input.value);
    } },
  });
  return h("label", {}, label, input);
}

export function attributesPanel(editor) {
  const box = h("section", { testid: "selection-panel" });
  const sync = () => {
    const obj = editor.selected;
    if (!obj) return replace(box, h("h3", { text: "Selection" }), h("p", { class: "small muted", text: "Nothing selected." }));
    const editable = editor.canEdit(obj);
    const cls = editor.classOf(obj);
    const classSelect = h("select", { testid: "object-class", disabled: !editable, on: { change: () => editor.relabel(obj.id, classSelect.value) } },
      editor.classes.filter((c) => c.name === obj.label || editor.classAllows(c.name, obj.kind)).map((c) => h("option", { value: c.name, text: c.name })));
    classSelect.value = obj.label;
    const set = (name) => (value) => editor.doc.update(obj.id, (o) => {
      const attributes = { ...o.attributes };
      if (value === undefined) delete attributes[name];
      else attributes[name] = value;
      return { ...o, attributes };
    }, `set ${name}`);
    const fields = (cls.attributes || []).map((spec) => field(spec, obj.attributes?.[spec.name], set(spec.name)));
    const fieldset = h("fieldset", { class: "attrs", disabled: !editable }, h("label", {}, "Class", classSelect), fields);
    replace(box,
      h("h3", { text: `Selection · ${obj.kind}` }),
      fieldset,
      h("div", { class: "row" },
        h("button", { class: "small", title: "Bring forward (PageUp)", testid: "z-up", disabled: !editable, on: { click: () => editor.shiftZ(obj.id, 1) } }, "▲ Forward"),
        h("button", { class: "small", title: "Send backward (PageDown)", testid: "z-down", disabled: !editable, on: { click: () => editor.shiftZ(obj.id, -1) } }, "▼ Backward"),
        h("button", { class: "small danger", testid: "delete-object", disabled: !editable, on: { click: () => editor.deleteObject(obj.id) } }, "Delete")));
  };
  editor.addEventListener("selection", sync);
  editor.doc.addEventListener("change", sync);
  sync();
  return box;
}
