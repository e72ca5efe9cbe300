// Short notices in the corner; user text goes in as text only.
import { h } from "../dom.js";

export function toast(message, kind = "info", ms = 4000) {
  const box = document.getElementById("toasts");
  if (!box) return;
  const el = h("div", { class: ["toast", kind], role: kind === "error" ? "alert" : "status", text: message });
  box.append(el);
  setTimeout(() => el.remove(), ms);
}

export function showError(err) {
  toast(err && err.message ? err.message : String(err), "error", 7000);
}
