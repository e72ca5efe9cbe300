// Object commands of the editor: mask <-> polygon conversion of the selection, and copy / paste of objects
// (also from one image to another: the clipboard lives in localStorage, so every tab and image sees it).
// Each is one undoable step.
import { rasterToPolygon, polygonToRaster } from "./convert.js";
import { fromRaster, raster } from "./shapes/mask.js";
import { boundsOf, geometryOf, shapes, withGeometry } from "./shapes/registry.js";

export const CLIPBOARD_KEY = "seglab.clipboard";
export const simplifyState = { tolerance: 0.7 }; // pixels: mask -> polygon simplification
const PASTE_SHIFT = 10; // pixels a paste moves when the copies would land exactly on their originals

/** The kind the selection converts to (polygon <-> mask), or null when it cannot be converted. */
export function conversionOf(obj) {
  if (!obj) return null;
  return obj.kind === "mask" ? "polygon" : obj.kind === "polygon" ? "mask" : null;
}

/** Why `obj` cannot become `kind` in this editor right now (a sentence for the hint), or "" when it can. */
function conversionProblem(editor, obj, kind) {
  if (!obj) return "Select a polygon or a mask first.";
  if (!kind || conversionOf(obj) !== kind) return `A ${obj.kind} cannot be converted to a ${kind}.`;
  if (!editor.canEdit(obj)) return "This object is locked or read-only.";
  if (!editor.classAllows(obj.label, kind)) return `Class "${obj.label}" does not allow ${kind}s.`;
  return "";
}

export function canConvert(editor, obj, kind) {
  return !conversionProblem(editor, obj, kind);
}

/** The geometry of `obj` as a `kind` (mask or polygon), or null when it has no pixels / no outline. */
export function convertedGeometry(editor, obj, kind, tolerance = simplifyState.tolerance) {
  if (kind === "mask") {
    const data = polygonToRaster(obj.polygon, editor.width, editor.height);
    const g = fromRaster(data, editor.width, editor.height);
    return raster(g).bbox ? g : null;
  }
  const r = raster(obj.mask);
  return rasterToPolygon(r.data, r.width, r.height, { tolerance, bbox: r.bbox });
}

/** Convert the selected object to `kind` (default: the other of polygon / mask); true when it was. */
export function convertSelected(editor, kind = conversionOf(editor.selected)) {
  const obj = editor.selected;
  const problem = conversionProblem(editor, obj, kind);
  if (problem) return editor.setHint(problem), false;
  const geometry = convertedGeometry(editor, obj, kind);
  if (!geometry) return editor.setHint(`Nothing left to convert: the ${obj.kind} covers no pixel.`), false;
  editor.doc.update(obj.id, (o) => {
    const { [o.kind]: _old, ...rest } = o;
    return { ...rest, kind, [kind]: geometry };
  }, `convert to ${kind}`);
  editor.setHint(kind === "polygon" ? `Converted to a polygon (${countVertices(geometry)} vertices).` : "Converted to a mask.");
  return true;
}

function countVertices(g) {
  return g.parts.reduce((n, p) => n + p.exterior.length + p.holes.reduce((m, h) => m + h.length, 0), 0);
}

// --------------------------------------------------------------------------------------- clipboard

/** Copy the selected object to the clipboard; returns how many objects were copied. */
export function copySelection(editor) {
  const obj = editor.selected;
  if (!obj) return editor.setHint("Select an object to copy."), 0;
  const entry = { copiedAt: new Date().toISOString(), image: { id: editor.image.id, width: editor.width, height: editor.height }, objects: [obj] };
  try {
    localStorage.setItem(CLIPBOARD_KEY, JSON.stringify(entry));
  } catch {
    return editor.setHint("The object is too large for the browser's storage: not copied."), 0;
  }
  editor.setHint(`Copied 1 ${obj.kind} (Ctrl+V pastes it here or in another image).`);
  editor.dispatchEvent(new CustomEvent("clipboard"));
  return 1;
}

export function readClipboard() {
  try {
    const entry = JSON.parse(localStorage.getItem(CLIPBOARD_KEY) || "null");
    return entry && Array.isArray(entry.objects) ? entry : null;
  } catch {
    return null;
  }
}

/** A mask's pixels moved into an image of another size (cropped at the new edges, the same place). */
function refitMask(g, width, height) {
  const r = raster(g);
  if (r.width === width && r.height === height) return g;
  const out = new Uint8Array(width * height);
  const w = Math.min(width, r.width);
  for (let row = 0; row < Math.min(height, r.height); row++) out.set(r.data.subarray(row * r.width, row * r.width + w), row * width);
  const moved = fromRaster(out, width, height);
  return raster(moved).bbox ? moved : null;
}

/** Shift an object so it lies inside the image (when it fits); null when it cannot be placed. */
function placed(editor, obj, shift) {
  let g = geometryOf(obj);
  if (obj.kind === "mask") g = refitMask(g, editor.width, editor.height);
  if (!g) return null;
  const shape = shapes[obj.kind];
  const [dx, dy] = shape.clampShift(g, shift, shift, editor.width, editor.height);
  const moved = dx || dy ? shape.translate(g, dx, dy) : g;
  const [x0, y0, x1, y1] = boundsOf({ kind: obj.kind, [obj.kind]: moved });
  if (x1 <= 0 || y1 <= 0 || x0 >= editor.width || y0 >= editor.height) return null;
  return withGeometry(obj, moved);
}

/** Paste the clipboard's objects as new objects (new ids); returns how many were pasted. */
export function paste(editor) {
  if (editor.readOnly) return 0;
  const entry = readClipboard();
  if (!entry || !entry.objects.length) return editor.setHint("The clipboard is empty: select an object and press Ctrl+C."), 0;
  const same = entry.image && entry.image.id === editor.image.id;
  const added = [];
  const skipped = [];
  for (const source of entry.objects) {
    const cls = editor.classOf(source);
    const skeletonMismatch = source.kind === "keypoints" && cls.skeleton && cls.skeleton.points.length !== source.keypoints.points.length;
    if (!editor.classAllows(source.label, source.kind) || skeletonMismatch) {
      skipped.push(`${source.label} (${source.kind})`);
      continue;
    }
    // In the image it came from, a paste lands beside the original; elsewhere, at the same place.
    const landsOnOriginal = same && editor.doc.objects.some((o) => o.kind === source.kind && JSON.stringify(geometryOf(o)) === JSON.stringify(geometryOf(source)));
    const obj = placed(editor, source, landsOnOriginal ? PASTE_SHIFT : 0);
    if (!obj) {
      skipped.push(`${source.label} (outside this image)`);
      continue;
    }
    const fresh = editor.makeObject(obj.kind, geometryOf(obj), obj.label);
    const known = new Set((cls.attributes || []).map((a) => a.name));
    const attributes = Object.fromEntries(Object.entries(obj.attributes || {}).filter(([k]) => known.has(k)));
    added.push({ ...fresh, attributes: { ...fresh.attributes, ...attributes }, z_order: obj.z_order || 0, crowd: Boolean(obj.crowd),
      extra: { ...(obj.extra || {}) } });
  }
  if (added.length) {
    editor.doc.commit([...editor.doc.objects, ...added], added.length === 1 ? "paste" : `paste ${added.length} objects`);
    editor.select(added[added.length - 1].id);
  }
  const note = skipped.length ? ` Not pasted: ${skipped.join(", ")}.` : "";
  editor.setHint(`Pasted ${added.length} object${added.length === 1 ? "" : "s"}.${note}`);
  return added.length;
}
