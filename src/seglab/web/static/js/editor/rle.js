// COCO run-length encoding of binary masks, as pycocotools writes it: runs go down the columns
// (column-major), start with a run of zeros, and the compressed string stores each count in 5-bit groups
// (LEB128-like, offset by 48), counts from the fourth on as the difference to the count two places before.
// Rasters here are row-major Uint8Array(height * width), index = row * width + column.

/** Run lengths of a compressed COCO RLE string. */
export function decodeCounts(text) {
  const counts = [];
  let p = 0;
  while (p < text.length) {
    let x = 0;
    let k = 0;
    let more = 1;
    let c = 0;
    while (more) {
      if (p >= text.length) throw new Error("RLE string ends in the middle of a number");
      c = text.charCodeAt(p) - 48;
      x |= (c & 0x1f) << (5 * k);
      more = c & 0x20;
      p++;
      k++;
    }
    if (c & 0x10) x |= -1 << (5 * k);
    if (counts.length > 2) x += counts[counts.length - 2];
    counts.push(x);
  }
  return counts;
}

/** The compressed COCO string for run lengths `counts`. */
export function encodeCounts(counts) {
  let out = "";
  for (let i = 0; i < counts.length; i++) {
    let x = counts[i];
    if (i > 2) x -= counts[i - 2];
    let more = 1;
    while (more) {
      let c = x & 0x1f;
      x >>= 5;
      more = c & 0x10 ? x !== -1 : x !== 0;
      if (more) c |= 0x20;
      out += String.fromCharCode(c + 48);
    }
  }
  return out;
}

/** A row-major raster from `{size: [h, w], counts}` (counts compressed or a list); runs must cover h*w. */
export function decodeMask(geometry) {
  const [height, width] = geometry.size;
  const counts = typeof geometry.counts === "string" ? decodeCounts(geometry.counts) : geometry.counts;
  const data = new Uint8Array(width * height);
  let pos = 0; // column-major position
  let value = 0;
  for (const run of counts) {
    if (value) {
      for (let q = pos; q < pos + run; q++) {
        const col = (q / height) | 0;
        data[(q - col * height) * width + col] = 1;
      }
    }
    pos += run;
    value ^= 1;
  }
  if (pos !== width * height) throw new Error(`RLE covers ${pos} pixels, the mask has ${width * height}`);
  return { width, height, data };
}

/** `{size: [h, w], counts: "<compressed>"}` for a row-major raster (any non-zero value is foreground). */
export function encodeMask(data, width, height) {
  const counts = [];
  let value = 0;
  let run = 0;
  for (let col = 0; col < width; col++) {
    for (let row = 0, q = col; row < height; row++, q += width) {
      const v = data[q] ? 1 : 0;
      if (v !== value) {
        counts.push(run);
        run = 0;
        value = v;
      }
      run++;
    }
  }
  counts.push(run);
  return { size: [height, width], counts: encodeCounts(counts) };
}
