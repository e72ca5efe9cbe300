// The login page.
import { h } from "../dom.js";
import { login } from "../api.js";
import { navigate } from "../router.js";
import { setTopbar } from "../ui/topbar.js";

export const name = "login";

export function mount(root, _params, query) {
  setTopbar();
  const error = h("p", { class: "error", role: "alert", testid: "login-error" });
  const username = h("input", { name: "username", autocomplete: "username", required: true, testid: "login-username" });
  const password = h("input", {
    name: "password", type: "password", autocomplete: "current-password", required: true, testid: "login-password",
  });
  const submit = h("button", { type: "submit", class: "primary", testid: "login-submit" }, "Log in");
  const form = h("form", { class: "card login", on: { submit: onSubmit } },
    h("h1", { text: "Log in to seglab" }),
    h("label", {}, "User name", username),
    h("label", {}, "Password", password),
    error,
    submit);

  async function onSubmit(e) {
    e.preventDefault();
    error.textContent = "";
    submit.disabled = true;
    try {
      await login(username.value, password.value);
      const next = query.get("next");
      navigate(next && next.startsWith("/") && !next.startsWith("//") ? next : "/", { replace: true });
    } catch (err) {
      error.textContent = err.status === 401 ? "Wrong user name or password." : err.message;
      submit.disabled = false;
    }
  }
  root.append(h("div", { class: "center" }, form));
  username.focus();
}
