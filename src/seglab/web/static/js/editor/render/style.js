// Colours per class, computed once per colour: translucent fill, solid outline.

const cache = new Map();

export function styleFor(color) {
  const key = (color || [128, 128, 128]).join(",");
  let s = cache.get(key);
  if (!s) {
    s = { key, color: color || [128, 128, 128], fill: `rgba(${key}, 0.28)`, stroke: `rgb(${key})`, mask: `rgba(${key}, 0.5)` };
    cache.set(key, s);
  }
  return s;
}

export const HIGHLIGHT = "#ffffff";
export const THEIRS = "#f472b6";
