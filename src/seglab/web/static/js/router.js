// History-API routing: a path pattern per page; each page module exports `mount(root, params, query)`
// which may return a cleanup function (called before the next page mounts).

const routes = [];
let cleanup = null;
let guard = null;
let mounting = 0;

/** Register `pattern` like "/projects/:pid/images/:iid" for `load`, a function returning the page module. */
export function route(pattern, load) {
  const names = [];
  const source = pattern.replace(/:([a-z]+)/g, (_, name) => (names.push(name), "([^/]+)"));
  routes.push({ regex: new RegExp(`^${source}/?$`), names, load });
}

/** A function run before each page; it may return a path to go to instead (e.g. the login page). */
export function beforeEach(fn) {
  guard = fn;
}

export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState({}, "", path);
  else history.pushState({}, "", path);
  return render();
}

export function currentPath() {
  return location.pathname + location.search;
}

export async function render() {
  const ticket = ++mounting;
  const root = document.getElementById("app");
  const redirect = guard ? await guard(location.pathname) : null;
  if (redirect && redirect !== location.pathname) {
    history.replaceState({}, "", redirect);
  }
  const path = location.pathname;
  const query = new URLSearchParams(location.search);
  for (const r of routes) {
    const m = r.regex.exec(path);
    if (!m) continue;
    const params = Object.fromEntries(r.names.map((n, i) => [n, decodeURIComponent(m[i + 1])]));
    const page = await r.load();
    if (ticket !== mounting) return; // a newer navigation won
    if (cleanup) {
      const previous = cleanup;
      cleanup = null;
      await previous();
    }
    root.replaceChildren();
    root.className = `app page-${page.name || "page"}`;
    try {
      cleanup = (await page.mount(root, params, query)) || null;
    } catch (err) {
      if (ticket !== mounting) return;
      const message = document.createElement("p");
      message.className = "pad error";
      message.setAttribute("role", "alert");
      message.textContent = `This page could not be shown: ${err.message || err}`;
      root.replaceChildren(message);
      root.className = "app";
    }
    return;
  }
  root.replaceChildren(Object.assign(document.createElement("p"), { className: "pad", textContent: "Page not found." }));
}

/** Links with `data-link` navigate without a reload. */
export function installLinkHandler() {
  document.addEventListener("click", (e) => {
    const a = e.target.closest("a[data-link]");
    if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
    e.preventDefault();
    navigate(a.getAttribute("href"));
  });
  window.addEventListener("popstate", () => render());
}
