// Building DOM without innerHTML: every piece of user text goes in through textContent or a text node,
// so a class name like "<img onerror=...>" is shown as text and never parsed as markup.

/**
 * Create an element. `props` keys: `class`, `testid` (data-testid), `dataset`, `style` (object),
 * `on` (event -> handler), `text`, `value` (a property, set last); `true` sets a boolean property or an
 * empty attribute; anything else becomes an attribute. false/null/undefined are left out.
 * Children: nodes, strings (as text nodes), arrays, null/false (skipped).
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  let value;
  for (const [key, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (key === "class") el.className = Array.isArray(v) ? v.filter(Boolean).join(" ") : v;
    else if (key === "testid") el.dataset.testid = v;
    else if (key === "dataset") Object.assign(el.dataset, v);
    else if (key === "style") Object.assign(el.style, v);
    else if (key === "on") for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else if (key === "text") el.textContent = String(v);
    else if (key === "value") value = v;
    else if (v === true) key in el ? (el[key] = true) : el.setAttribute(key, "");
    else el.setAttribute(key, String(v));
  }
  append(el, children);
  if (value !== undefined) el.value = value; // after the children: a <select> needs its options first
  return el;
}

/** Append children (nodes, strings, nested arrays); strings always become text nodes. */
export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Remove every child of `el` and put `children` in. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** CSS colour for an [r, g, b] triple with an optional alpha. */
export function rgb(color, alpha = 1) {
  const [r, g, b] = color || [128, 128, 128];
  return alpha === 1 ? `rgb(${r}, ${g}, ${b})` : `rgba(${r}, ${g}, ${b}, ${alpha})`;
}

export function hexColor(color) {
  return "#" + (color || [0, 0, 0]).map((v) => Number(v).toString(16).padStart(2, "0")).join("");
}

export function colorFromHex(hex) {
  const m = /^#?([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex || "");
  return m ? [parseInt(m[1], 16), parseInt(m[2], 16), parseInt(m[3], 16)] : [0, 0, 0];
}

/** A small modal dialog; resolves with the value `onSubmit` returns, or null when cancelled. */
export function modal(title, body, { okText = "OK", cancelText = "Cancel", testid } = {}) {
  return new Promise((resolve) => {
    const close = (value) => {
      backdrop.remove();
      resolve(value);
    };
    const form = h("form", { class: "modal", testid, on: { submit: (e) => (e.preventDefault(), close(true)) } },
      h("h2", { text: title }),
      body,
      h("div", { class: "row end" },
        h("button", { type: "button", class: "ghost", on: { click: () => close(null) } }, cancelText),
        h("button", { type: "submit", class: "primary", testid: testid ? `${testid}-ok` : undefined }, okText)));
    const backdrop = h("div", { class: "backdrop", on: { keydown: (e) => e.key === "Escape" && close(null) } }, form);
    document.body.append(backdrop);
    (form.querySelector("input, textarea, select") || form.querySelector("button.primary")).focus();
  });
}
