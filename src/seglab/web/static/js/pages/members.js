// Members and roles: who works on the project and as what. Managers and owners add people (by user name,
// which may be an e-mail address), change roles and remove members; the page offers only what the
// server would allow (managers grant roles below their own, owners any; nobody changes their own role),
// and the server checks again.
import { h, modal, replace } from "../dom.js";
import { del, get, patch, paths, post, user } from "../api.js";
import { navigate } from "../router.js";
import { showError, toast } from "../ui/toast.js";
import { setTopbar } from "../ui/topbar.js";

export const name = "members";
export const ROLES = ["viewer", "annotator", "reviewer", "manager", "owner"];
const RANK = Object.fromEntries(ROLES.map((r, i) => [r, i]));
const ROLE_HELP = {
  viewer: "sees everything, changes nothing",
  annotator: "labels images, submits them for review",
  reviewer: "approves, rejects and reopens",
  manager: "ontology, images, members below manager",
  owner: "everything, including owners and deleting the project",
};

/** Roles `actorRole` may hand out (and take away): owners any, managers those below their own. */
export function grantable(actorRole, isAdmin = false) {
  if (isAdmin || actorRole === "owner") return ROLES;
  if (actorRole === "manager") return ROLES.filter((r) => RANK[r] < RANK.manager);
  return [];
}

export async function mount(root, { pid }) {
  const project = await get(paths.project(pid));
  setTopbar([{ text: "Projects", href: "/" }, { text: project.name, href: `/projects/${pid}` }, { text: "Members" }]);
  const me = user();
  const mayGrant = grantable(project.role, me && me.is_admin);
  const canManage = mayGrant.length > 0;

  const list = h("tbody", {});
  const count = h("span", { class: "muted", testid: "member-count" });
  const who = h("input", { name: "username", placeholder: "User name or e-mail", required: true, maxlength: 150,
    autocomplete: "off", testid: "member-username" });
  const role = h("select", { testid: "member-role", value: "annotator" }, mayGrant.map((r) => h("option", { value: r, text: r })));
  role.value = mayGrant.includes("annotator") ? "annotator" : mayGrant[0] || "";
  const addError = h("p", { class: "error small", testid: "member-error", role: "alert" });
  const addForm = canManage && h("form", { class: "card row wrap", testid: "add-member", on: { submit: add } },
    h("strong", { text: "Add a member" }), who, role,
    h("button", { class: "primary", type: "submit", testid: "add-member-submit" }, "Add"), addError);

  root.append(h("section", { class: "page" },
    h("div", { class: "row spread" },
      h("div", {}, h("h1", { text: "Members and roles" }), count),
      h("a", { class: "button", href: `/projects/${pid}`, "data-link": "", text: "Back to images" })),
    addForm,
    !canManage && h("p", { class: "muted", testid: "members-readonly", text: "Only managers and owners change who works on this project." }),
    h("table", { class: "members card", testid: "member-list" },
      h("thead", {}, h("tr", {}, h("th", { text: "User" }), h("th", { text: "Role" }), h("th", { text: "" }))),
      list),
    h("div", { class: "card role-help" }, h("strong", { text: "Roles" }),
      h("ul", { class: "plain" }, ROLES.map((r) => h("li", {}, h("span", { class: `pill role-${r}`, text: r }), " ", ROLE_HELP[r]))))));

  /** Whether the logged-in user may change or remove `member` (the server has the last word). */
  function mayTouch(member) {
    if (!canManage || !me) return false;
    if (member.user_id === me.id && !me.is_admin) return false;
    return mayGrant.includes(member.role);
  }

  function row(member) {
    const mine = me && member.user_id === me.id;
    const label = h("td", {},
      h("strong", { text: member.username }),
      member.display_name && h("span", { class: "muted", text: ` ${member.display_name}` }),
      mine && h("span", { class: "pill", text: "you" }));
    let roleCell;
    if (mayTouch(member)) {
      const pick = h("select", { testid: "member-role-select", "aria-label": `Role of ${member.username}`,
        on: { change: () => changeRole(member, pick) } }, mayGrant.map((r) => h("option", { value: r, text: r })));
      pick.value = member.role;
      roleCell = h("td", {}, pick);
    } else {
      roleCell = h("td", {}, h("span", { class: `pill role-${member.role}`, testid: "member-role-text", text: member.role }));
    }
    const leave = mine && !mayTouch(member) && h("button", { class: "ghost small", testid: "leave-project",
      on: { click: () => remove(member, true) } }, "Leave");
    const removeButton = mayTouch(member) && h("button", { class: "ghost small danger", testid: "remove-member",
      on: { click: () => remove(member, false) } }, "Remove");
    return h("tr", { testid: "member-row", dataset: { userId: member.user_id, username: member.username, role: member.role } },
      label, roleCell, h("td", { class: "actions" }, removeButton, leave));
  }

  async function load() {
    const members = [];
    for (let offset = 0; ; offset += 500) {
      const page = await get(`${paths.members(pid)}?limit=500&offset=${offset}`);
      members.push(...page);
      if (page.length < 500) break;
    }
    members.sort((a, b) => RANK[b.role] - RANK[a.role] || a.username.localeCompare(b.username));
    replace(list, members.map(row));
    count.textContent = `${members.length} member${members.length === 1 ? "" : "s"}`;
  }

  async function add(e) {
    e.preventDefault();
    addError.textContent = "";
    const username = who.value.trim();
    if (!username) return;
    try {
      await post(paths.members(pid), { username, role: role.value });
      toast(`${username} is now a ${role.value}`, "ok");
      who.value = "";
      await load();
    } catch (err) {
      addError.textContent = err.status === 400 || err.status === 422 ? `No active user “${username}”.` : err.message;
    }
  }

  async function changeRole(member, pick) {
    try {
      await patch(paths.member(pid, member.user_id), { role: pick.value });
      toast(`${member.username} is now a ${pick.value}`, "ok");
    } catch (err) {
      showError(err);
    }
    await load().catch(showError);
  }

  async function remove(member, leaving) {
    const question = leaving ? "Leave this project? You lose access to it." : `Remove ${member.username} from the project? Images assigned to them go back to the pool.`;
    const ok = await modal(leaving ? "Leave the project" : "Remove a member", h("p", { text: question }),
      { okText: leaving ? "Leave" : "Remove", testid: "confirm-remove" });
    if (!ok) return;
    try {
      await del(paths.member(pid, member.user_id));
      toast(leaving ? "You left the project" : `${member.username} removed`, "ok");
      if (leaving) return navigate("/");
      await load();
    } catch (err) {
      showError(err);
    }
  }

  await load();
}
