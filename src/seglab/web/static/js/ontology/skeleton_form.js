// A keypoint skeleton, edited visually and as lists. On the canvas: click an empty spot to add a named point,
// drag a point to move it, click one point then another to connect them (the second stays picked, so a
// chain is a run of clicks), click an edge or point and press Delete to remove it. The lists below name
// the points (in order), give per-point OKS sigmas, and edit edges by hand. Where the points sit on the
// canvas is kept in the class's `extra.skeleton_layout` (unit coordinates), so the drawing comes back.
import { h, replace } from "../dom.js";

const SVG_NS = "http://www.w3.org/2000/svg";
const WIDTH = 420;
const HEIGHT = 280;
const RADIUS = 7;
const DRAG_START = 3; // CSS pixels a press moves before it is a drag and not a click
/** The OKS sigma a new point gets once the class has sigmas (COCO's run from 0.025, eyes, to 0.107, hips). */
export const DEFAULT_SIGMA = 0.05;

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "testid") el.dataset.testid = v;
    else if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  }
  el.append(...children);
  return el;
}

/** Points evenly on a circle: the layout of a skeleton that was never drawn (e.g. imported from COCO). */
function circleLayout(n) {
  return Array.from({ length: n }, (_, i) => {
    const a = (i / Math.max(n, 1)) * 2 * Math.PI - Math.PI / 2;
    return [0.5 + 0.38 * Math.cos(a) * (HEIGHT / WIDTH), 0.5 + 0.38 * Math.sin(a)];
  });
}

/** Remove point `i` from a skeleton: edges through it go, later indices shift down, sigmas and flips follow. */
export function removeSkeletonPoint(sk, i) {
  sk.points.splice(i, 1);
  const shift = (a) => (a > i ? a - 1 : a);
  sk.edges = sk.edges.filter(([a, b]) => a !== i && b !== i).map(([a, b]) => [shift(a), shift(b)]);
  if (sk.sigmas) sk.sigmas.splice(i, 1);
  if (sk.flip_index) {
    sk.flip_index.splice(i, 1);
    sk.flip_index = sk.flip_index.map((f, j) => (f === i ? j : shift(f))); // a lost mirror maps to itself
  }
}

/** Add a point named `name`: sigmas (when the class has them) get the default, the point mirrors itself. */
export function addSkeletonPoint(sk, name) {
  sk.points.push(name);
  if (sk.sigmas) sk.sigmas.push(DEFAULT_SIGMA);
  if (sk.flip_index) sk.flip_index.push(sk.points.length - 1);
}

/** Add the edge a-b unless it is a loop or already there (either way round); true when added. */
export function addSkeletonEdge(sk, a, b) {
  if (a === b || sk.edges.some(([p, q]) => (p === a && q === b) || (p === b && q === a))) return false;
  sk.edges.push([a, b]);
  return true;
}

/** The spot of a 9 x 6 grid farthest from every placed point: where a point added by button goes. */
function freeSpot(placed) {
  if (!placed.length) return [0.5, 0.2];
  let best = [0.5, 0.5];
  let bestDistance = -1;
  for (let i = 0; i < 9; i++) {
    for (let j = 0; j < 6; j++) {
      const p = [0.12 + (0.72 * i) / 8, 0.12 + (0.76 * j) / 5];
      const d = Math.min(Infinity, ...placed.map(([x, y]) => Math.hypot((x - p[0]) * WIDTH, (y - p[1]) * HEIGHT)));
      if (d > bestDistance) (best = p), (bestDistance = d);
    }
  }
  return best;
}

/** A point's name beside it: on its right, or on its left near the right edge so it is not cut off. */
function labelAt(x, y) {
  const left = x > WIDTH * 0.7;
  return { x: left ? x - RADIUS - 3 : x + RADIUS + 3, y: y + 4, "text-anchor": left ? "end" : "start" };
}

function freshName(points) {
  let n = points.length + 1;
  while (points.includes(`point${n}`)) n++;
  return `point${n}`;
}

export function skeletonForm(cls, onChange) {
  let selected = null; // {type: "point" | "edge", index}
  const box = h("div", { class: "skeleton-editor", testid: "skeleton-form" });
  const hint = h("p", { class: "muted small", testid: "skeleton-hint" });
  const deleteButton = h("button", { type: "button", class: "ghost small danger", testid: "skeleton-delete", disabled: true,
    on: { click: () => deleteSelected() } }, "Delete selected");
  const edgesLayer = svg("g");
  const pointsLayer = svg("g");
  const canvas = svg("svg", { class: "skeleton-canvas", viewBox: `0 0 ${WIDTH} ${HEIGHT}`, tabindex: 0, role: "application",
    "aria-label": "Skeleton drawing: click to add a point, click two points to connect them", testid: "skeleton-canvas" },
  svg("rect", { class: "skeleton-bg", x: 0, y: 0, width: WIDTH, height: HEIGHT }), edgesLayer, pointsLayer);
  const lists = h("div", { class: "skeleton" });

  const sk = () => cls.skeleton;
  function ensureSkeleton() {
    if (!cls.skeleton) cls.skeleton = { points: [], edges: [], sigmas: null, flip_index: null };
    return cls.skeleton;
  }

  /** The layout, one [x, y] in 0..1 per point (made up on a circle for points that have none). */
  function layout() {
    const n = sk() ? sk().points.length : 0;
    cls.extra = cls.extra || {};
    let pos = Array.isArray(cls.extra.skeleton_layout) ? cls.extra.skeleton_layout : [];
    if (pos.length !== n || !pos.every((p) => Array.isArray(p) && p.length === 2 && p.every(Number.isFinite))) {
      const ring = circleLayout(n);
      pos = ring.map((p, i) => (Array.isArray(pos[i]) && pos[i].length === 2 && pos[i].every(Number.isFinite) ? pos[i] : p));
      if (n) cls.extra.skeleton_layout = pos;
      else delete cls.extra.skeleton_layout;
    }
    return pos;
  }

  function changed() {
    onChange();
    drawCanvas();
  }

  // ------------------------------------------------------------------------------------------ canvas

  function toUnit(event) {
    const ctm = canvas.getScreenCTM();
    const p = new DOMPoint(event.clientX, event.clientY).matrixTransform(ctm.inverse());
    return [Math.min(1, Math.max(0, p.x / WIDTH)), Math.min(1, Math.max(0, p.y / HEIGHT))];
  }

  function drawCanvas() {
    const s = sk();
    const pos = layout();
    const at = (i) => [pos[i][0] * WIDTH, pos[i][1] * HEIGHT];
    edgesLayer.replaceChildren(...(s ? s.edges : []).map(([a, b], i) => {
      if (!pos[a] || !pos[b]) return svg("g");
      const [x1, y1] = at(a);
      const [x2, y2] = at(b);
      const picked = selected && selected.type === "edge" && selected.index === i;
      const g = svg("g", { class: picked ? "sk-edge picked" : "sk-edge", testid: "skeleton-edge", "data-a": a, "data-b": b },
        svg("line", { class: "hit", x1, y1, x2, y2 }),
        svg("line", { class: "stroke", x1, y1, x2, y2 }));
      g.addEventListener("pointerdown", (e) => {
        e.stopPropagation();
        e.preventDefault();
        if (locked()) return;
        canvas.focus();
        selected = { type: "edge", index: i };
        drawCanvas();
      });
      return g;
    }));
    const color = `rgb(${(cls.color || [37, 99, 235]).join(",")})`;
    pointsLayer.replaceChildren(...(s ? s.points : []).map((name, i) => {
      const [x, y] = at(i);
      const picked = selected && selected.type === "point" && selected.index === i;
      const label = svg("text", labelAt(x, y));
      label.textContent = name || `point ${i + 1}`; // text node: a name is never markup
      const g = svg("g", { class: picked ? "sk-point picked" : "sk-point", testid: "skeleton-node", "data-index": i },
        svg("circle", { cx: x, cy: y, r: RADIUS, fill: color }), label);
      g.addEventListener("pointerdown", (e) => pressPoint(e, i, g));
      g.addEventListener("dblclick", () => {
        const input = lists.querySelectorAll("[data-testid=skeleton-point]")[i];
        if (input) input.select();
      });
      return g;
    }));
    deleteButton.disabled = !selected;
    hint.textContent = hintText();
  }

  function hintText() {
    const s = sk();
    if (!s || !s.points.length) return "Click in the box to add the first point.";
    if (selected && selected.type === "point") {
      return `“${s.points[selected.index]}” picked: click another point to connect it, Delete to remove it, Esc to let go.`;
    }
    if (selected && selected.type === "edge") return "Edge picked: Delete removes it.";
    return "Click an empty spot to add a point, drag to move, click two points to connect them; double-click renames.";
  }

  const locked = () => Boolean(canvas.closest("fieldset:disabled")); // a viewer's page: look, do not touch

  function pressPoint(e, i, g) {
    e.stopPropagation();
    e.preventDefault();
    if (locked() || e.button !== 0) return;
    canvas.focus();
    const start = [e.clientX, e.clientY];
    let dragging = false;
    g.setPointerCapture(e.pointerId);
    const move = (ev) => {
      if (!dragging && Math.hypot(ev.clientX - start[0], ev.clientY - start[1]) < DRAG_START) return;
      dragging = true;
      layout()[i] = toUnit(ev);
      drawCanvasPositions();
    };
    const up = () => {
      g.removeEventListener("pointermove", move);
      g.removeEventListener("pointerup", up);
      g.removeEventListener("pointercancel", up);
      if (dragging) return changed();
      clickPoint(i);
    };
    g.addEventListener("pointermove", move);
    g.addEventListener("pointerup", up);
    g.addEventListener("pointercancel", up);
  }

  /** Move the drawn points and edges to the layout without rebuilding (keeps the pointer capture alive). */
  function drawCanvasPositions() {
    const pos = layout();
    pointsLayer.querySelectorAll(".sk-point").forEach((g) => {
      const [x, y] = pos[Number(g.dataset.index)];
      g.querySelector("circle").setAttribute("cx", x * WIDTH);
      g.querySelector("circle").setAttribute("cy", y * HEIGHT);
      for (const [k, v] of Object.entries(labelAt(x * WIDTH, y * HEIGHT))) g.querySelector("text").setAttribute(k, v);
    });
    edgesLayer.querySelectorAll(".sk-edge").forEach((g) => {
      const a = pos[Number(g.dataset.a)];
      const b = pos[Number(g.dataset.b)];
      for (const line of g.querySelectorAll("line")) {
        line.setAttribute("x1", a[0] * WIDTH);
        line.setAttribute("y1", a[1] * HEIGHT);
        line.setAttribute("x2", b[0] * WIDTH);
        line.setAttribute("y2", b[1] * HEIGHT);
      }
    });
  }

  function clickPoint(i) {
    if (selected && selected.type === "point" && selected.index !== i) {
      if (addSkeletonEdge(sk(), selected.index, i)) drawLists();
      selected = { type: "point", index: i }; // keep going: the next click continues the chain
      return changed();
    }
    selected = selected && selected.type === "point" && selected.index === i ? null : { type: "point", index: i };
    drawCanvas();
  }

  canvas.addEventListener("pointerdown", (e) => {
    if (e.button !== 0 || locked()) return;
    e.preventDefault(); // no focus change from the press: the new point's name field gets it below
    canvas.focus();
    if (selected) {
      selected = null; // the first click on empty space lets go of what was picked
      return drawCanvas();
    }
    const s = ensureSkeleton();
    const pos = layout();
    addSkeletonPoint(s, freshName(s.points));
    pos.push(toUnit(e));
    cls.extra.skeleton_layout = pos;
    drawLists();
    changed();
    const inputs = lists.querySelectorAll("[data-testid=skeleton-point]");
    inputs[inputs.length - 1].select(); // type the name right away
    inputs[inputs.length - 1].scrollIntoView({ block: "nearest" });
  });
  canvas.addEventListener("keydown", (e) => {
    if (e.key === "Delete" || e.key === "Backspace") {
      e.preventDefault();
      deleteSelected();
    } else if (e.key === "Escape" && selected) {
      selected = null;
      drawCanvas();
    }
  });

  function deleteSelected() {
    if (!selected || locked()) return;
    if (selected.type === "point") removePoint(selected.index);
    else removeEdge(selected.index);
  }

  function removePoint(i) {
    const s = sk();
    const pos = layout();
    removeSkeletonPoint(s, i);
    pos.splice(i, 1);
    if (!s.points.length) {
      cls.skeleton = null;
      delete cls.extra.skeleton_layout;
    }
    selected = null;
    drawLists();
    changed();
  }

  function removeEdge(i) {
    sk().edges.splice(i, 1);
    selected = null;
    drawLists();
    changed();
  }

  // ------------------------------------------------------------------------------------------- lists

  function pointRow(name, i) {
    const s = sk();
    const input = h("input", { value: name, testid: "skeleton-point", maxlength: 200, "aria-label": `Name of point ${i + 1}`,
      on: { input: () => { s.points[i] = input.value; onChange(); drawCanvas(); refreshEdgeNames(); } } });
    const sigma = h("input", { type: "number", class: "sigma", min: 0.001, max: 10, step: 0.001, testid: "skeleton-sigma",
      placeholder: "default", title: "OKS sigma of this point (empty: the metric's default)",
      value: s.sigmas ? String(s.sigmas[i]) : "",
      on: { change: () => setSigma(i, sigma.value) } });
    return h("li", { class: "row" }, h("span", { class: "muted idx", text: String(i + 1) }), input,
      h("label", { class: "muted small" }, "σ", sigma),
      h("button", { type: "button", class: "ghost small", title: "Remove point", testid: "skeleton-remove-point", on: { click: () => removePoint(i) } }, "✕"));
  }

  function setSigma(i, text) {
    const s = sk();
    const value = Number(text);
    if (text.trim() === "") {
      if (s.sigmas) s.sigmas[i] = DEFAULT_SIGMA;
    } else if (Number.isFinite(value) && value > 0) {
      if (!s.sigmas) s.sigmas = s.points.map(() => DEFAULT_SIGMA);
      s.sigmas[i] = value;
    }
    onChange();
    drawLists();
  }

  function edgeRow(edge, i) {
    const s = sk();
    const pick = (end) => {
      const sel = h("select", { value: String(edge[end]), class: "edge-end", on: { change: () => { edge[end] = Number(sel.value); changed(); } } },
        s.points.map((p, j) => h("option", { value: String(j), text: p || `point ${j + 1}` })));
      return sel;
    };
    return h("li", { class: "row" }, pick(0), h("span", { text: "—" }), pick(1),
      h("button", { type: "button", class: "ghost small", title: "Remove edge", testid: "skeleton-remove-edge", on: { click: () => removeEdge(i) } }, "✕"));
  }

  function refreshEdgeNames() {
    const s = sk();
    lists.querySelectorAll("select.edge-end").forEach((sel) => {
      [...sel.options].forEach((o, j) => (o.textContent = s.points[j] || `point ${j + 1}`));
    });
  }

  function drawLists() {
    const s = sk();
    const addPoint = h("button", { type: "button", class: "ghost small", testid: "add-skeleton-point", on: { click: () => {
      const skel = ensureSkeleton();
      const pos = layout();
      addSkeletonPoint(skel, freshName(skel.points));
      pos.push(freeSpot(pos));
      cls.extra.skeleton_layout = pos;
      drawLists();
      changed();
    } } }, "+ point");
    const addEdge = s && s.points.length >= 2 && h("button", { type: "button", class: "ghost small", testid: "add-skeleton-edge",
      on: { click: () => {
        const n = s.points.length;
        for (let a = 0; a < n; a++) for (let b = a + 1; b < n; b++) if (addSkeletonEdge(s, a, b)) return (drawLists(), changed());
      } } }, "+ edge");
    replace(lists,
      h("div", { class: "col" }, h("strong", { text: "Points" }), h("ol", { class: "plain" }, s ? s.points.map(pointRow) : []), addPoint),
      h("div", { class: "col" }, h("strong", { text: "Edges" }), h("ul", { class: "plain" }, s ? s.edges.map(edgeRow) : []), addEdge));
  }

  replace(box, h("div", { class: "skeleton-draw" }, canvas, h("div", { class: "row" }, hint, h("div", { class: "spacer" }), deleteButton)), lists);
  drawLists();
  drawCanvas();
  return box;
}
