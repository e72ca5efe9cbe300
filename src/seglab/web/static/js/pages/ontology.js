// The ontology editor: the project's classes, saved as a whole with the ontology's version (If-Match).
import { h, replace } from "../dom.js";
import { get, paths, request, versionOf } from "../api.js";
import { classForm } from "../ontology/class_form.js";
import { showError, toast } from "../ui/toast.js";
import { setTopbar } from "../ui/topbar.js";

export const name = "ontology";
const PALETTE = [[230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48], [145, 30, 180],
  [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212], [0, 128, 128], [170, 110, 40]];

export async function mount(root, { pid }) {
  const project = await get(paths.project(pid));
  setTopbar([{ text: "Projects", href: "/" }, { text: project.name, href: `/projects/${pid}` }, { text: "Ontology" }]);
  const editable = ["manager", "owner"].includes(project.role);

  let version = 0;
  let ontology = null;
  let originals = []; // the name each class had when loaded (null for new classes), for renames
  let dirty = false;

  const list = h("div", { class: "classes", testid: "class-list" });
  const status = h("span", { class: "muted", testid: "ontology-status" });
  const saveButton = h("button", { class: "primary", testid: "save-ontology", disabled: !editable, on: { click: save } }, "Save ontology");
  const fieldset = h("fieldset", { disabled: !editable }, list,
    h("button", { type: "button", class: "ghost", testid: "add-class", on: { click: addClass } }, "+ Add class"));
  root.append(h("section", { class: "page" },
    h("div", { class: "row spread" },
      h("h1", { text: "Ontology" }),
      h("div", { class: "row" }, status, saveButton,
        h("a", { class: "button", href: `/projects/${pid}`, "data-link": "", text: "Back to images" }))),
    !editable && h("p", { class: "muted", text: "Only managers and owners can change the ontology." }),
    fieldset));

  function changed() {
    dirty = true;
    status.textContent = "Unsaved changes";
  }

  function addClass() {
    const i = ontology.classes.length;
    ontology.classes.push({ name: `class ${i + 1}`, color: PALETTE[i % PALETTE.length], kind: "thing", shapes: [], attributes: [], skeleton: null });
    originals.push(null);
    draw();
    changed();
    list.lastElementChild.querySelector("input").select();
  }

  function draw() {
    replace(list, ontology.classes.map((cls, i) => classForm(cls, {
      onChange: changed,
      onRemove: () => {
        ontology.classes.splice(i, 1);
        originals.splice(i, 1);
        draw();
        changed();
      },
    })));
    if (!ontology.classes.length) list.append(h("p", { class: "muted", text: "No classes yet." }));
  }

  async function load() {
    const res = await request("GET", paths.ontology(pid));
    version = versionOf(res.etag) ?? res.body.version;
    ontology = res.body.ontology;
    originals = ontology.classes.map((c) => c.name);
    dirty = false;
    status.textContent = `Version ${version}`;
    draw();
  }

  async function save() {
    const renames = {};
    ontology.classes.forEach((c, i) => {
      if (originals[i] !== null && originals[i] !== c.name) renames[originals[i]] = c.name;
    });
    saveButton.disabled = true;
    try {
      const res = await request("PUT", paths.ontology(pid), {
        body: { ontology, renames },
        headers: { "If-Match": `"${version}"` },
      });
      version = res.body.version;
      ontology = res.body.ontology;
      originals = ontology.classes.map((c) => c.name);
      dirty = false;
      status.textContent = `Saved: version ${version}`;
      toast("Ontology saved", "ok");
      draw();
    } catch (err) {
      status.textContent = "Not saved";
      showError(err.status === 412 ? new Error("Someone else changed the ontology; reload to see their version.") : err);
    } finally {
      saveButton.disabled = !editable;
    }
  }

  const beforeUnload = (e) => {
    if (dirty) e.preventDefault();
  };
  window.addEventListener("beforeunload", beforeUnload);
  await load();
  return () => window.removeEventListener("beforeunload", beforeUnload);
}
