// Editing keypoints: drag a point, cycle its visibility 2 (visible) -> 1 (occluded) -> 0 (not labeled), and
// back to visible where it was. Unlabeled points are stored as [0, 0, 0], as COCO does.
const lastPlace = new WeakMap(); // geometry -> Map(index -> [x, y]) remembered when a point is unlabeled

function centroid(points) {
  const labeled = points.filter((p) => p[2] > 0);
  if (!labeled.length) return [0, 0];
  return [labeled.reduce((a, p) => a + p[0], 0) / labeled.length, labeled.reduce((a, p) => a + p[1], 0) / labeled.length];
}

export default {
  handles: (g) => g.points.flatMap(([x, y, v], index) => (v > 0 ? [{ x, y, ref: { index } }] : [])),
  moveHandle(g, ref, x, y) {
    const points = g.points.slice();
    points[ref.index] = [x, y, points[ref.index][2] || 2];
    return { points };
  },
  /** "Delete" a keypoint: it becomes not labeled (the skeleton keeps its length). */
  deleteVertex(g, ref) {
    return this.setVisibility(g, ref, 0);
  },
  setVisibility(g, ref, v) {
    const points = g.points.slice();
    const [x, y, old] = points[ref.index];
    let next;
    if (v === 0) next = [0, 0, 0];
    else if (old === 0) next = [...(lastPlace.get(g)?.get(ref.index) || centroid(points)), v];
    else next = [x, y, v];
    points[ref.index] = next;
    const geometry = { points };
    const places = new Map(lastPlace.get(g) || []);
    if (v === 0 && old > 0) places.set(ref.index, [x, y]);
    lastPlace.set(geometry, places);
    return geometry;
  },
  cycleVisibility(g, ref) {
    const v = g.points[ref.index][2];
    return this.setVisibility(g, ref, v === 2 ? 1 : v === 1 ? 0 : 2);
  },
  sameRef: (a, b) => Boolean(a && b && a.index === b.index),
};
