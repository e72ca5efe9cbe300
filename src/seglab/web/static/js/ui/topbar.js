// The header: product name, breadcrumbs for the current page, the user and logout.
import { h, replace } from "../dom.js";
import { logout, user } from "../api.js";
import { navigate } from "../router.js";

/** Show `crumbs` ([{text, href?}]) in the header; pages call this when they mount. */
export function setTopbar(crumbs = [], extra = []) {
  const bar = document.getElementById("topbar");
  const who = user();
  const trail = [];
  crumbs.forEach((c, i) => {
    if (i) trail.push(h("span", { class: "sep", text: "/" }));
    trail.push(c.href ? h("a", { href: c.href, "data-link": "", text: c.text }) : h("span", { text: c.text }));
  });
  replace(
    bar,
    h("a", { class: "brand", href: "/", "data-link": "" }, "seglab"),
    h("nav", { class: "crumbs" }, trail),
    h("div", { class: "spacer" }),
    extra,
    who &&
      h("div", { class: "who" },
        h("span", { class: "muted", text: who.display_name || who.username }),
        h("button", {
          class: "ghost small",
          testid: "logout",
          on: { click: async () => (await logout(), navigate("/login")) },
        }, "Log out")),
  );
}
