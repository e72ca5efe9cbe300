// Review comments on the image (the reasons for a rejection), as plain text.
import { h, replace } from "../../dom.js";
import { get, paths } from "../../api.js";

export function commentsPanel(pid, iid) {
  const list = h("ul", { class: "plain comments", testid: "comments" });
  const box = h("section", { hidden: true, class: "comments-box" }, h("h3", { text: "Reviewer comments" }), list);
  get(`${paths.comments(pid, iid)}?limit=100`).then((comments) => {
    const open = comments.filter((c) => !c.resolved);
    if (!open.length) return;
    box.hidden = false;
    replace(list, open.map((c) => h("li", { text: c.text })));
  }).catch(() => {});
  return box;
}
