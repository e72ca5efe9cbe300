// The editor registry: how each kind is modified (vertex handles, insert, delete). Masks are painted with
// the brush and eraser instead, and only move as a whole.
import box from "./box.js";
import keypoints from "./keypoints.js";
import polygon from "./polygon.js";
import polyline from "./polyline.js";

const mask = { handles: () => [], deleteVertex: () => null, sameRef: () => false };

export const editors = { box, polygon, polyline, keypoints, mask };
