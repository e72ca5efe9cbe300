// A keypoint skeleton as two lists: named points (in order) and edges between two of them.
import { h, replace } from "../dom.js";

export function skeletonForm(cls, onChange) {
  const box = h("div", { class: "skeleton", testid: "skeleton-form" });

  function pointRow(name, i) {
    const input = h("input", { value: name, testid: "skeleton-point", maxlength: 200,
      on: { input: () => { cls.skeleton.points[i] = input.value; onChange(); } } });
    return h("li", { class: "row" }, h("span", { class: "muted", text: String(i + 1) }), input,
      h("button", { type: "button", class: "ghost small", title: "Remove point", on: { click: () => removePoint(i) } }, "✕"));
  }

  function removePoint(i) {
    const sk = cls.skeleton;
    sk.points.splice(i, 1);
    sk.edges = sk.edges.filter(([a, b]) => a !== i && b !== i).map(([a, b]) => [a > i ? a - 1 : a, b > i ? b - 1 : b]);
    sk.sigmas = null;
    sk.flip_index = null;
    if (!sk.points.length) cls.skeleton = null;
    draw();
    onChange();
  }

  function edgeRow(edge, i) {
    const pick = (end) => {
      const sel = h("select", { value: String(edge[end]), on: { change: () => { edge[end] = Number(sel.value); onChange(); } } },
        cls.skeleton.points.map((p, j) => h("option", { value: String(j), text: p || `point ${j + 1}` })));
      return sel;
    };
    return h("li", { class: "row" }, pick(0), h("span", { text: "—" }), pick(1),
      h("button", { type: "button", class: "ghost small", on: { click: () => { cls.skeleton.edges.splice(i, 1); draw(); onChange(); } } }, "✕"));
  }

  function draw() {
    const sk = cls.skeleton;
    const addPoint = h("button", { type: "button", class: "ghost small", testid: "add-skeleton-point", on: { click: () => {
      cls.skeleton = cls.skeleton || { points: [], edges: [], sigmas: null, flip_index: null };
      cls.skeleton.points.push(`point${cls.skeleton.points.length + 1}`);
      cls.skeleton.sigmas = null;
      cls.skeleton.flip_index = null;
      draw();
      onChange();
    } } }, "+ point");
    const addEdge = sk && sk.points.length >= 2 && h("button", { type: "button", class: "ghost small", testid: "add-skeleton-edge",
      on: { click: () => { sk.edges.push([0, 1]); draw(); onChange(); } } }, "+ edge");
    replace(box,
      h("div", { class: "col" }, h("strong", { text: "Points" }), h("ol", { class: "plain" }, sk ? sk.points.map(pointRow) : []), addPoint),
      h("div", { class: "col" }, h("strong", { text: "Edges" }), h("ul", { class: "plain" }, sk ? sk.edges.map(edgeRow) : []), addEdge));
  }
  draw();
  return box;
}
