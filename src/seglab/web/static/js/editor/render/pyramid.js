// The image at halving resolutions, so a zoomed-out view samples a level near its own scale instead of
// shrinking the full image every frame (faster, and without aliasing).

const MIN_SIDE = 256;

export async function buildPyramid(bitmap) {
  const levels = [{ image: bitmap, scale: 1 }];
  let w = bitmap.width;
  let h = bitmap.height;
  let source = bitmap;
  while (Math.max(w, h) / 2 >= MIN_SIDE && levels.length < 8) {
    w = Math.max(1, Math.round(w / 2));
    h = Math.max(1, Math.round(h / 2));
    source = await createImageBitmap(source, { resizeWidth: w, resizeHeight: h, resizeQuality: "medium" });
    levels.push({ image: source, scale: w / bitmap.width });
  }
  return levels;
}

/** The smallest level still at least as sharp as the screen at `scale`. */
export function pickLevel(levels, scale) {
  let best = levels[0];
  for (const level of levels) if (level.scale >= scale) best = level;
  return best;
}
