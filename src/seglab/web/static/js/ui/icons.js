// Small line icons as SVG built through the DOM (no markup strings, no icon font, no emoji that a system
// may lack). 24 x 24 viewBox, drawn with the current text colour.

const NS = "http://www.w3.org/2000/svg";
const SHAPES = {
  select: [["path", { d: "M5 3l13 8-6 1.5L9 19z" }]],
  box: [["rect", { x: 4, y: 6, width: 16, height: 12, rx: 1 }]],
  polygon: [["path", { d: "M12 3l8 6-3 10H7L4 9z" }]],
  polyline: [["path", { d: "M3 18l5-9 5 6 4-10 4 5" }]],
  keypoints: [["path", { d: "M12 5v7M12 12l-6 6M12 12l6 6" }], ["circle", { cx: 12, cy: 5, r: 2 }], ["circle", { cx: 6, cy: 18, r: 2 }], ["circle", { cx: 18, cy: 18, r: 2 }]],
  brush: [["path", { d: "M14 4l6 6-8 8H6v-6z" }], ["path", { d: "M4 21h16" }]],
  eraser: [["path", { d: "M8 20l-4-4 10-10 6 6-8 8z" }], ["path", { d: "M8 20h12M9 11l5 5" }]],
  magic: [["path", { d: "M4 20L15 9" }], ["path", { d: "M17 3v2M17 9v2M13 7h2M19 7h2M20 14v2M19 15h2" }]],
  fit: [["path", { d: "M4 9V4h5M15 4h5v5M20 15v5h-5M9 20H4v-5" }]],
  eye: [["path", { d: "M2 12s4-7 10-7 10 7 10 7-4 7-10 7S2 12 2 12z" }], ["circle", { cx: 12, cy: 12, r: 3 }]],
  lock: [["rect", { x: 5, y: 11, width: 14, height: 9, rx: 1 }], ["path", { d: "M8 11V8a4 4 0 0 1 8 0v3" }]],
};

export function icon(name, size = 18) {
  const svg = document.createElementNS(NS, "svg");
  for (const [k, v] of Object.entries({ viewBox: "0 0 24 24", width: size, height: size, fill: "none", stroke: "currentColor", "stroke-width": 2, "stroke-linecap": "round", "stroke-linejoin": "round", "aria-hidden": "true" })) svg.setAttribute(k, String(v));
  for (const [tag, attrs] of SHAPES[name] || []) {
    const el = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
    svg.append(el);
  }
  return svg;
}
