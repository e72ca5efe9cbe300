// The image at halving resolutions, so a zoomed-out view samples a level near its own scale instead of
// shrinking the full image every frame (faster, and without aliasing).

const MIN_SIDE = 256;

/**
 * The levels of `bitmap`, returned at once with only the full image in it: the smaller levels are added as
 * they are made (the first frame need not wait for them). `levels.done` resolves when all are there.
 */
export function buildPyramid(bitmap) {
  const levels = [{ image: bitmap, scale: 1 }];
  levels.done = (async () => {
    let w = bitmap.width;
    let h = bitmap.height;
    let source = bitmap;
    while (Math.max(w, h) / 2 >= MIN_SIDE && levels.length < 8) {
      w = Math.max(1, Math.round(w / 2));
      h = Math.max(1, Math.round(h / 2));
      // An exact halving samples bilinearly between four pixels, a 2x2 box filter: "low" is enough, and
      // several times faster than "medium" on a large image.
      source = await createImageBitmap(source, { resizeWidth: w, resizeHeight: h, resizeQuality: "low" });
      levels.push({ image: source, scale: w / bitmap.width });
    }
    return levels;
  })();
  return levels;
}

/** The smallest level still at least as sharp as the screen at `scale`. */
export function pickLevel(levels, scale) {
  let best = levels[0];
  for (const level of levels) if (level.scale >= scale) best = level;
  return best;
}
