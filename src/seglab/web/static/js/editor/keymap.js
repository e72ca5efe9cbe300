// The editor's keyboard shortcuts: one table that both runs the keys and writes the help overlay, so the
// two cannot disagree. Tools see keys first (Enter, Backspace, H, U, S, T, [ ] ...) and say so in `tool`.

export const KEYMAP = [
  { section: "Tools", keys: ["V"], what: "Select and edit", run: (c) => c.editor.setTool("select") },
  { section: "Tools", keys: ["B"], what: "Box", run: (c) => c.editor.setTool("box") },
  { section: "Tools", keys: ["P"], what: "Polygon (H: hole in the selected polygon, U: add a part)", run: (c) => c.editor.setTool("polygon") },
  { section: "Tools", keys: ["L"], what: "Polyline", run: (c) => c.editor.setTool("polyline") },
  { section: "Tools", keys: ["K"], what: "Keypoints (Shift+click occluded, S skip)", run: (c) => c.editor.setTool("keypoints") },
  { section: "Tools", keys: ["M"], what: "Mask brush", run: (c) => c.editor.setTool("brush") },
  { section: "Tools", keys: ["E"], what: "Mask eraser", run: (c) => c.editor.setTool("eraser") },
  { section: "Tools", keys: ["[", "]"], what: "Brush size smaller / larger", tool: true },
  { section: "Tools", keys: ["W"], what: "Magic segment: click it (right click: not it), drag a box, S: scribble; Enter adds", run: (c) => c.editor.setTool("magic") },
  { section: "Drawing", keys: ["Enter"], what: "Close the polygon, finish the polyline or skeleton", tool: true },
  { section: "Drawing", keys: ["Backspace"], what: "Remove the last point while drawing", tool: true },
  { section: "Drawing", keys: ["Esc"], what: "Cancel the drawing, or clear the selection", tool: true },
  { section: "Editing", keys: ["Delete"], what: "Delete the active vertex, else the object (Shift: the object)", tool: true },
  { section: "Editing", keys: ["T"], what: "Keypoint visibility: visible → occluded → not labeled", tool: true },
  { section: "Editing", keys: ["←", "→", "↑", "↓"], what: "Nudge the selection 1 px (Shift: 10 px)", tool: true },
  { section: "Editing", keys: ["PageUp", "PageDown"], what: "Bring forward / send backward", tool: true },
  { section: "Editing", keys: ["1…9"], what: "Pick a class (relabels the selection with the select tool)", digit: true },
  { section: "Editing", keys: ["C"], what: "Convert the selection: mask → polygon, polygon → mask", run: (c) => c.convert() },
  { section: "Editing", keys: ["Ctrl+C", "Ctrl+V"], what: "Copy / paste the selection (also into another image)", ctrl: "c", run: (c) => c.copy() },
  { section: "Editing", keys: ["Ctrl+Z"], what: "Undo", ctrl: "z", run: (c) => c.undo() },
  { section: "Editing", keys: ["Ctrl+Shift+Z", "Ctrl+Y"], what: "Redo", ctrl: "Z", run: (c) => c.redo() },
  { section: "View", keys: ["Wheel"], what: "Zoom around the pointer" },
  { section: "View", keys: ["Space+drag", "Middle drag"], what: "Pan" },
  { section: "View", keys: ["F"], what: "Fit the image", run: (c) => c.fit() },
  { section: "View", keys: ["="], what: "Actual size (1:1)", run: (c) => c.actualSize() },
  { section: "View", keys: ["O"], what: "Panoptic view on / off (magenta: pixels no segment covers)", run: (c) => c.togglePanoptic() },
  { section: "Images", keys: ["Alt+→", "Alt+←"], what: "Next / previous image" },
  { section: "Images", keys: ["Ctrl+S"], what: "Save now", ctrl: "s", run: (c) => c.saveNow() },
  { section: "Help", keys: ["?"], what: "Show or hide this help", run: (c) => c.toggleHelp() },
];

const SINGLE = { v: "V", b: "B", p: "P", l: "L", k: "K", m: "M", e: "E", w: "W", c: "C", o: "O", f: "F", "=": "=", "?": "?" };

/** Run the shortcut for a keydown `e`; `c` is the editor page's controller. Returns true when handled. */
export function handleKey(e, c) {
  if (e.ctrlKey || e.metaKey) {
    const key = e.key.toLowerCase();
    if (key === "z") return e.shiftKey ? c.redo() : c.undo(), true;
    if (key === "y") return c.redo(), true;
    if (key === "c" && !e.shiftKey && !String(window.getSelection?.() || "")) return c.copy(), true; // selected page text copies as usual
    if (key === "v" && !e.shiftKey) return c.paste(), true;
    if (key === "s") return c.saveNow(), true;
    return false;
  }
  if (e.altKey) {
    if (e.key === "ArrowRight") return c.go(1), true;
    if (e.key === "ArrowLeft") return c.go(-1), true;
    return false;
  }
  if (/^[1-9]$/.test(e.key)) {
    const cls = c.editor.classes[Number(e.key) - 1];
    if (cls) c.editor.setClass(cls.name);
    return Boolean(cls);
  }
  const name = SINGLE[e.key.length === 1 ? e.key.toLowerCase() : ""] || SINGLE[e.key];
  const entry = name && KEYMAP.find((k) => k.keys[0] === name && k.run);
  if (!entry) return false;
  entry.run(c);
  return true;
}
