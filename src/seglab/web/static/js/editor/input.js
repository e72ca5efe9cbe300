// Pointer, wheel and keyboard input on the canvas: pan (space+drag, middle button), zoom around the pointer
// (wheel), everything else to the active tool in image coordinates, keys to the tool first, then the keymap.
import { handleKey } from "./keymap.js";

const WHEEL_ZOOM = 0.0015;

function typing(target) {
  if (target && target.tagName === "INPUT" && /^(checkbox|radio|button)$/.test(target.type)) return false; // keys mean nothing to these
  return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
}

export function attachInput(canvas, controller) {
  const editor = controller.editor;
  const vp = editor.viewport;
  let panning = null;
  let space = false;

  const point = (e) => {
    const rect = canvas.getBoundingClientRect();
    return vp.toImage(e.clientX - rect.left, e.clientY - rect.top);
  };
  const setCursor = () => {
    canvas.style.cursor = panning ? "grabbing" : space ? "grab" : editor.tool && editor.tool.name === "select" ? "default" : "crosshair";
  };

  const handlers = {
    pointerdown(e) {
      canvas.focus();
      if (e.button === 1 || (e.button === 0 && space)) {
        e.preventDefault();
        panning = { x: e.clientX, y: e.clientY };
        canvas.setPointerCapture(e.pointerId);
        setCursor();
        return;
      }
      if (e.button !== 0 || !editor.tool) return;
      canvas.setPointerCapture(e.pointerId);
      editor.cursor = point(e);
      editor.tool.onPointerDown?.(e, editor.cursor);
    },
    pointermove(e) {
      if (panning) {
        vp.pan(e.clientX - panning.x, e.clientY - panning.y);
        panning = { x: e.clientX, y: e.clientY };
        editor.requestRender();
        return;
      }
      editor.cursor = point(e);
      controller.onCursor?.(editor.cursor);
      editor.tool?.onPointerMove?.(e, editor.cursor);
    },
    pointerup(e) {
      if (canvas.hasPointerCapture(e.pointerId)) canvas.releasePointerCapture(e.pointerId);
      if (panning) {
        panning = null;
        setCursor();
        return;
      }
      if (e.button === 0) editor.tool?.onPointerUp?.(e, point(e));
    },
    pointerleave() {
      editor.cursor = null;
      editor.requestRender();
    },
    dblclick(e) {
      editor.tool?.onDoubleClick?.(e, point(e));
    },
    wheel(e) {
      e.preventDefault();
      const rect = canvas.getBoundingClientRect();
      const delta = e.deltaMode === 1 ? e.deltaY * 33 : e.deltaMode === 2 ? e.deltaY * 400 : e.deltaY;
      vp.zoomAt(e.clientX - rect.left, e.clientY - rect.top, Math.exp(-delta * WHEEL_ZOOM));
      editor.requestRender();
    },
    contextmenu(e) {
      e.preventDefault();
    },
    auxclick(e) {
      if (e.button === 1) e.preventDefault(); // no middle-click paste or autoscroll
    },
  };
  for (const [name, fn] of Object.entries(handlers)) canvas.addEventListener(name, fn, { passive: name !== "wheel" });

  const keydown = (e) => {
    if (typing(e.target) || controller.modalOpen?.()) return;
    if (e.key === " ") {
      space = true;
      setCursor();
      e.preventDefault();
      return;
    }
    if (!(e.ctrlKey || e.metaKey || e.altKey) && editor.tool?.onKey?.(e)) {
      e.preventDefault();
      return;
    }
    if (handleKey(e, controller)) e.preventDefault();
  };
  const keyup = (e) => {
    if (e.key === " ") {
      space = false;
      setCursor();
    }
  };
  window.addEventListener("keydown", keydown);
  window.addEventListener("keyup", keyup);
  editor.addEventListener("tool", setCursor);
  setCursor();
  return () => {
    window.removeEventListener("keydown", keydown);
    window.removeEventListener("keyup", keyup);
  };
}
