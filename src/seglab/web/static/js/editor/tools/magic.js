// Magic tool (W): interactive segmentation by the server's assist route. Click on the object (right click
// or Shift+click: a spot that is not the object), drag a box around it, or switch to scribble mode (S) and
// draw strokes. Every change asks the server (debounced; an answer to an older question is dropped, so the
// latest always wins) and the mask previews live. Enter adds it as a polygon (or a mask) of the current
// class, as one undoable edit; Esc cancels; Backspace takes back the last prompt. Unless "allow overlap" is
// ticked, the segments already on the image are cut out of the answer (panoptic labeling).
import { request } from "../../api.js";
import { tintedMaskCanvas } from "../render/kinds.js";
import { styleFor } from "../render/style.js";
import { decodeMask } from "../rle.js";

export const magicState = {
  method: "auto",
  methods: ["auto", "combined", "grabcut", "superpixels", "wand"], // replaced by the server's list
  output: "polygon", // or "mask"
  scribble: false,
  allowOverlap: false,
  tolerance: 1, // polygon simplification in pixels; 0 is the mask's exact outline
};

const DEBOUNCE_MS = 60;
const DRAG_PX = 5; // a press that moves further than this (on screen) is a box, not a click
const STROKE_STEP_PX = 2;
const MAX_EXCLUSIONS = 5000;
const POSITIVE = "#22c55e";
const NEGATIVE = "#ef4444";

export function createMagicTool(editor) {
  const pid = editor.image.project_id;
  const iid = editor.image.id;
  const w = editor.width;
  const h = editor.height;
  let prompts = []; // in the order given: {type: "click", p, positive} | {type: "box", box} | {type: "stroke", points, positive}
  let gesture = null; // the press in progress: {start, current, positive, stroke, dragging}
  let answer = null; // the server's last answer, with its preview raster
  let previous = null; // the mask the next question refines
  let timer = 0;
  let asked = 0; // number of the latest question; answers to older ones are dropped
  let inflight = null;
  let commitWhenReady = false;
  let status = "idle"; // idle | busy | ready | empty | error
  let message = "";
  let bound = false;
  let methodsLoaded = false;

  const inside = ([x, y]) => x >= 0 && y >= 0 && x < w && y < h;
  const clampInside = ([x, y]) => [Math.min(Math.max(x, 0), w - 1e-3), Math.min(Math.max(y, 0), h - 1e-3)];

  function setStatus(next, text = "") {
    status = next;
    message = text;
    editor.dispatchEvent(new CustomEvent("magic"));
    editor.requestRender();
  }

  // --------------------------------------------------------------------------------------- questions

  function exclusions() {
    const out = [];
    for (const o of editor.doc.objects) {
      if (o.kind === "polygon") out.push({ polygon: o.polygon });
      else if (o.kind === "mask") out.push({ mask: o.mask });
      if (out.length >= MAX_EXCLUSIONS) break;
    }
    return out;
  }

  function question() {
    const body = { positives: [], negatives: [], scribbles: [], box: null, method: magicState.method, tolerance: magicState.tolerance };
    for (const q of prompts) {
      if (q.type === "click") (q.positive ? body.positives : body.negatives).push(q.p);
      else if (q.type === "box") body.box = q.box;
      else body.scribbles.push({ points: q.points, positive: q.positive });
    }
    if (previous) body.previous = previous;
    if (!magicState.allowOverlap) body.exclude = exclusions();
    return body;
  }

  /** The prompts changed: ask again after a short pause (a burst of clicks is one question). */
  function changed({ restart = false } = {}) {
    if (restart) previous = null;
    clearTimeout(timer);
    if (!prompts.length) {
      abort();
      answer = null;
      previous = null;
      return setStatus("idle");
    }
    abort(); // an answer to the old prompts is of no use any more
    setStatus("busy");
    timer = setTimeout(ask, DEBOUNCE_MS);
  }

  function abort() {
    if (inflight) inflight.abort();
    inflight = null;
    asked++;
  }

  async function ask() {
    const mine = ++asked;
    const controller = (inflight = new AbortController());
    try {
      const { body } = await request("POST", `projects/${pid}/images/${iid}/assist`, { body: question(), signal: controller.signal });
      if (mine !== asked) return; // a newer question is on its way
      inflight = null;
      show(body);
    } catch (err) {
      if (err.name === "AbortError" || mine !== asked) return;
      inflight = null;
      commitWhenReady = false;
      setStatus("error", err.message);
      editor.setHint(`Magic: ${err.message}`);
    }
  }

  function show(res) {
    answer = { res, raster: null, color: null };
    previous = res.area ? res.mask : null;
    setStatus(res.area ? "ready" : "empty");
    if (commitWhenReady) {
      commitWhenReady = false;
      commit();
    }
  }

  /** The answer's pixels as a canvas the size of its box, in the current class's colour. */
  function previewCanvas() {
    const color = styleFor((editor.classByName.get(editor.currentClass) || {}).color).color;
    if (answer.raster && answer.color === color) return answer.raster;
    const { x_min: x0, y_min: y0, x_max: x1, y_max: y1 } = answer.res.bbox;
    const canvas = tintedMaskCanvas(decodeMask(answer.res.mask).data, w, [x0, y0, x1, y1], color);
    answer.raster = canvas;
    answer.color = color;
    return canvas;
  }

  // ------------------------------------------------------------------------------------ commit, reset

  function commit() {
    if (status === "busy") {
      commitWhenReady = true; // Enter during a question: add the answer to it
      return;
    }
    if (!answer || !answer.res.area) return editor.setHint("Nothing to add yet: click on an object.");
    let kind = magicState.output;
    if (!editor.classAllows(editor.currentClass, kind)) {
      const other = kind === "polygon" ? "mask" : "polygon";
      if (!editor.classAllows(editor.currentClass, other)) return editor.setHint("Pick a class that allows polygons or masks first.");
      kind = other;
    }
    const geometry = kind === "polygon" ? answer.res.polygon : answer.res.mask;
    reset();
    editor.addObject(kind, geometry);
    editor.requestRender();
  }

  function reset() {
    clearTimeout(timer);
    abort();
    prompts = [];
    gesture = null;
    answer = null;
    previous = null;
    commitWhenReady = false;
    setStatus("idle");
  }

  // --------------------------------------------------------------------------------------- gestures

  function begin(p, positive) {
    if (!inside(p)) return editor.setHint("Click on the image.");
    const q = clampInside(p);
    gesture = { start: q, current: q, positive, stroke: magicState.scribble ? [q] : null, dragging: false };
    editor.requestRender();
  }

  function move(p) {
    if (!gesture) return;
    const q = clampInside(p);
    const s = editor.viewport.scale;
    if (gesture.stroke) {
      const last = gesture.stroke[gesture.stroke.length - 1];
      if (Math.hypot(q[0] - last[0], q[1] - last[1]) * s >= STROKE_STEP_PX) gesture.stroke.push(q);
    } else if (!gesture.dragging && Math.hypot(q[0] - gesture.start[0], q[1] - gesture.start[1]) * s > DRAG_PX) {
      gesture.dragging = true;
    }
    gesture.current = q;
    editor.requestRender();
  }

  function end() {
    const g = gesture;
    gesture = null;
    if (!g) return;
    if (g.stroke) {
      prompts.push({ type: "stroke", points: g.stroke, positive: g.positive });
    } else if (g.dragging && g.positive) {
      const [ax, ay] = g.start;
      const [bx, by] = g.current;
      const box = { x_min: Math.min(ax, bx), y_min: Math.min(ay, by), x_max: Math.max(ax, bx), y_max: Math.max(ay, by) };
      prompts = prompts.filter((q) => q.type !== "box"); // one box: a new one replaces the last
      prompts.push({ type: "box", box });
      return changed({ restart: true });
    } else {
      prompts.push({ type: "click", p: g.start, positive: g.positive });
    }
    changed();
  }

  /** Right button presses: the editor's input sends only the left button to tools. */
  function bindSecondaryButton() {
    const canvas = editor.renderer && editor.renderer.canvas;
    if (bound || !canvas) return;
    bound = true;
    const at = (e) => {
      const rect = canvas.getBoundingClientRect();
      return editor.viewport.toImage(e.clientX - rect.left, e.clientY - rect.top);
    };
    canvas.addEventListener("pointerdown", (e) => {
      if (e.button !== 2 || editor.tool !== tool) return;
      canvas.setPointerCapture(e.pointerId);
      begin(at(e), false);
    });
    canvas.addEventListener("pointerup", (e) => {
      if (e.button !== 2 || editor.tool !== tool || !gesture) return;
      move(at(e));
      end();
    });
  }

  async function loadMethods() {
    if (methodsLoaded) return;
    methodsLoaded = true;
    try {
      const { body } = await request("GET", `projects/${pid}/assist`);
      magicState.methods = ["auto", ...body.methods.filter((m) => m !== "auto")];
      if (!magicState.methods.includes(magicState.method)) magicState.method = "auto";
      if (editor.tool === tool) editor.dispatchEvent(new CustomEvent("tool"));
    } catch {
      methodsLoaded = false; // the defaults stay; the next activation asks again
    }
  }

  // ------------------------------------------------------------------------------------------ drawing

  function drawRing(ctx, vp, ring) {
    ctx.beginPath();
    ring.forEach(([x, y], i) => (i ? ctx.lineTo : ctx.moveTo).call(ctx, x * vp.scale + vp.tx, y * vp.scale + vp.ty));
    ctx.closePath();
    ctx.stroke();
  }

  function drawStroke(ctx, vp, points, positive) {
    ctx.beginPath();
    points.forEach(([x, y], i) => (i ? ctx.lineTo : ctx.moveTo).call(ctx, x * vp.scale + vp.tx, y * vp.scale + vp.ty));
    if (points.length === 1) ctx.lineTo(points[0][0] * vp.scale + vp.tx + 0.1, points[0][1] * vp.scale + vp.ty);
    ctx.lineWidth = 4;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.strokeStyle = positive ? POSITIVE : NEGATIVE;
    ctx.stroke();
  }

  function drawBox(ctx, vp, { x_min, y_min, x_max, y_max }) {
    ctx.setLineDash([6, 4]);
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = "#fff";
    ctx.strokeRect(x_min * vp.scale + vp.tx, y_min * vp.scale + vp.ty, (x_max - x_min) * vp.scale, (y_max - y_min) * vp.scale);
    ctx.setLineDash([]);
  }

  function drawClick(ctx, vp, [x, y], positive) {
    const sx = x * vp.scale + vp.tx;
    const sy = y * vp.scale + vp.ty;
    ctx.beginPath();
    ctx.arc(sx, sy, 6, 0, Math.PI * 2);
    ctx.fillStyle = positive ? POSITIVE : NEGATIVE;
    ctx.fill();
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = "#fff";
    ctx.stroke();
    ctx.beginPath(); // + or -
    ctx.moveTo(sx - 3, sy);
    ctx.lineTo(sx + 3, sy);
    if (positive) ctx.moveTo(sx, sy - 3), ctx.lineTo(sx, sy + 3);
    ctx.stroke();
  }

  const tool = {
    name: "magic", key: "w", icon: "magic", label: "Magic",
    get kind() {
      return magicState.output;
    },
    get hint() {
      if (magicState.scribble) return "Scribble on the object (right button or Shift: on the background); Enter adds it, Esc cancels, S: clicks.";
      return "Click the object (right click or Shift+click: not the object) or drag a box; Enter adds it, Esc cancels, S: scribble.";
    },
    /** For the tool options and tests: idle, busy, ready, empty or error. */
    get status() {
      return status;
    },
    get message() {
      return message;
    },
    get answer() {
      return answer && answer.res;
    },
    get prompts() {
      return prompts;
    },
    setScribble(on) {
      magicState.scribble = Boolean(on);
      editor.dispatchEvent(new CustomEvent("tool"));
    },
    /** An option that changes the answer (method, tolerance, overlap) was changed: ask again. */
    optionsChanged({ restart = false } = {}) {
      if (prompts.length) changed({ restart });
    },
    activate() {
      bindSecondaryButton();
      loadMethods();
    },
    onPointerDown(e, p) {
      begin(p, !e.shiftKey);
    },
    onPointerMove(_e, p) {
      move(p);
    },
    onPointerUp(_e, p) {
      move(p);
      end();
    },
    cancel() {
      reset();
    },
    onKey(e) {
      if (e.key === "Enter") return commit(), true;
      if (e.key === "Escape" && (prompts.length || gesture || answer)) return reset(), true;
      if (e.key === "Backspace" && prompts.length) return prompts.pop(), changed({ restart: true }), true;
      if (e.key === "s" || e.key === "S") return tool.setScribble(!magicState.scribble), true;
      return false;
    },
    drawOverlay(ctx, vp) {
      if (answer && answer.res.area) {
        const { x_min: x0, y_min: y0, x_max: x1, y_max: y1 } = answer.res.bbox;
        ctx.imageSmoothingEnabled = false;
        ctx.globalAlpha = status === "busy" ? 0.6 : 1;
        ctx.drawImage(previewCanvas(), x0 * vp.scale + vp.tx, y0 * vp.scale + vp.ty, (x1 - x0) * vp.scale, (y1 - y0) * vp.scale);
        ctx.globalAlpha = 1;
        ctx.imageSmoothingEnabled = true;
        if (magicState.output === "polygon" && answer.res.polygon) {
          ctx.lineWidth = 1.5;
          ctx.strokeStyle = "#fff";
          for (const part of answer.res.polygon.parts) for (const ring of [part.exterior, ...part.holes]) drawRing(ctx, vp, ring);
        }
      }
      for (const q of prompts) {
        if (q.type === "box") drawBox(ctx, vp, q.box);
        else if (q.type === "stroke") drawStroke(ctx, vp, q.points, q.positive);
      }
      if (gesture && gesture.stroke) drawStroke(ctx, vp, gesture.stroke, gesture.positive);
      else if (gesture && gesture.dragging && gesture.positive) {
        const [ax, ay] = gesture.start;
        const [bx, by] = gesture.current;
        drawBox(ctx, vp, { x_min: Math.min(ax, bx), y_min: Math.min(ay, by), x_max: Math.max(ax, bx), y_max: Math.max(ay, by) });
      }
      for (const q of prompts) if (q.type === "click") drawClick(ctx, vp, q.p, q.positive);
    },
  };
  return tool;
}
