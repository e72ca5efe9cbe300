// Entry point: the session check, the page table and the router.
import { loadSession, user } from "./api.js";
import { prefetchForPath } from "./prefetch.js";
import { beforeEach, installLinkHandler, navigate, render, route } from "./router.js";
import { showError } from "./ui/toast.js";

route("/login", () => import("./pages/login.js"));
route("/", () => import("./pages/projects.js"));
route("/projects", () => import("./pages/projects.js"));
route("/projects/:pid", () => import("./pages/project.js"));
route("/projects/:pid/ontology", () => import("./pages/ontology.js"));
route("/projects/:pid/members", () => import("./pages/members.js"));
route("/projects/:pid/queue", () => import("./pages/queue.js"));
route("/projects/:pid/images/:iid", () => import("./pages/editor.js"));
route("/projects/:pid/review", () => import("./pages/review.js"));
route("/projects/:pid/review/:iid", () => import("./pages/review.js"));
route("/projects/:pid/uncertainty", () => import("./pages/uncertainty.js"));
route("/projects/:pid/audit", () => import("./pages/audit.js"));

let checked = false;
beforeEach(async (path) => {
  if (!checked) {
    checked = true;
    await loadSession();
  }
  if (!user() && path !== "/login") return `/login?next=${encodeURIComponent(location.pathname + location.search)}`;
  if (user() && path === "/login") return "/";
  return null;
});

window.addEventListener("seglab:unauthorized", () => {
  if (location.pathname !== "/login") navigate(`/login?next=${encodeURIComponent(location.pathname)}`);
});
window.addEventListener("unhandledrejection", (e) => showError(e.reason));

installLinkHandler();
prefetchForPath(location.pathname);
render().catch(showError);
