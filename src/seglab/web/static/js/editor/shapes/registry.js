// The shape registry: geometry utilities per kind (bounds, hit test, translate), keyed by the API's `kind`.
import box from "./box.js";
import keypoints from "./keypoints.js";
import mask from "./mask.js";
import polygon from "./polygon.js";
import polyline from "./polyline.js";

export const shapes = { box, polygon, polyline, keypoints, mask };
export const KINDS = Object.keys(shapes);

export const geometryOf = (obj) => obj[obj.kind];

const boundsCache = new WeakMap();

/** [x0, y0, x1, y1] of an object, cached per geometry object (geometries are never mutated). */
export function boundsOf(obj) {
  const g = geometryOf(obj);
  let b = boundsCache.get(g);
  if (!b) {
    b = shapes[obj.kind].bounds(g);
    boundsCache.set(g, b);
  }
  return b;
}

/** A copy of `obj` with a new geometry (the object is plain data mirroring the API's annotation). */
export function withGeometry(obj, geometry) {
  return { ...obj, [obj.kind]: geometry };
}
