// The projects list, with a form to create a project.
import { h, replace } from "../dom.js";
import { get, post } from "../api.js";
import { navigate } from "../router.js";
import { showError } from "../ui/toast.js";
import { setTopbar } from "../ui/topbar.js";

export const name = "projects";

export async function mount(root) {
  setTopbar([{ text: "Projects" }]);
  const list = h("div", { class: "project-list", testid: "project-list" });
  const nameInput = h("input", { name: "name", placeholder: "Project name", required: true, maxlength: 200, testid: "project-name" });
  const description = h("input", { name: "description", placeholder: "Description (optional)", maxlength: 10000 });
  const form = h("form", { class: "card row", testid: "create-project", on: { submit: create } },
    nameInput, description, h("button", { type: "submit", class: "primary", testid: "create-project-submit" }, "Create project"));
  root.append(h("section", { class: "page" }, h("h1", { text: "Projects" }), form, list));

  async function create(e) {
    e.preventDefault();
    try {
      const project = await post("projects", { name: nameInput.value.trim(), description: description.value });
      navigate(`/projects/${project.id}/ontology`);
    } catch (err) {
      showError(err);
    }
  }

  const projects = await get("projects?limit=500");
  if (!projects.length) {
    replace(list, h("p", { class: "muted", text: "No projects yet: create the first one above." }));
    return;
  }
  replace(list, projects.map((p) =>
    h("a", { class: "card project", href: `/projects/${p.id}`, "data-link": "", testid: "project-card" },
      h("h2", { text: p.name }),
      h("p", { class: "muted", text: p.description || "No description" }),
      h("span", { class: "badge", text: p.role }))));
}
