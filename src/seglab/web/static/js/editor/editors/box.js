// Editing axis-aligned boxes: drag a corner (the opposite corner stays). Rotated boxes move as a whole.
export default {
  handles(g) {
    if (g.rotation) return [];
    return [[g.x_min, g.y_min], [g.x_max, g.y_min], [g.x_max, g.y_max], [g.x_min, g.y_max]].map(([x, y], corner) => ({ x, y, ref: { corner } }));
  },
  moveHandle(g, ref, x, y) {
    const fixed = [[g.x_max, g.y_max], [g.x_min, g.y_max], [g.x_min, g.y_min], [g.x_max, g.y_min]][ref.corner];
    return { x_min: Math.min(x, fixed[0]), y_min: Math.min(y, fixed[1]), x_max: Math.max(x, fixed[0]), y_max: Math.max(y, fixed[1]), rotation: 0 };
  },
  deleteVertex: () => null,
  sameRef: (a, b) => Boolean(a && b && a.corner === b.corner),
};
