// The tool registry: what creates objects (one tool per shape, brush and eraser for masks) and the
// select/edit tool. Each tool gets pointer events in image coordinates and keys before the global keymap.
import { createBoxTool } from "./box.js";
import { createBrushTool } from "./brush.js";
import { createKeypointsTool } from "./keypoints.js";
import { createMagicTool } from "./magic.js";
import { createPolygonTool } from "./polygon.js";
import { createPolylineTool } from "./polyline.js";
import { createSelectTool } from "./select.js";

export const TOOL_ORDER = ["select", "box", "polygon", "polyline", "keypoints", "brush", "eraser", "magic"];

export function installTools(editor) {
  for (const tool of [
    createSelectTool(editor),
    createBoxTool(editor),
    createPolygonTool(editor),
    createPolylineTool(editor),
    createKeypointsTool(editor),
    createBrushTool(editor, false),
    createBrushTool(editor, true),
    createMagicTool(editor),
  ]) editor.registerTool(tool);
}
