// Loading an image for the editor: the image record, the ontology, the annotations (with their version),
// the pixels (decoded off the main thread into a pyramid), and any local draft left from an earlier visit.
import { get, paths, request, versionOf } from "../api.js";
import { takePrefetch } from "../prefetch.js";
import { readDraft } from "./draft.js";
import { buildPyramid } from "./render/pyramid.js";
import { TiledImage, wantsTiles } from "./render/tiles.js";

/** The annotations as `request` returns them, from the prefetched response when there is a good one. */
async function annotationsOf(pid, iid, prefetched) {
  if (prefetched) {
    try {
      const response = await prefetched;
      if (response.ok) return { status: response.status, body: await response.json(), etag: response.headers.get("ETag") };
    } catch {
      // fall through to a fresh request, which reports errors the usual way
    }
  }
  return request("GET", paths.annotations(pid, iid));
}

export async function loadImageData(pid, iid, prefetched = null) {
  const [project, image, ontology, annotations] = await Promise.all([
    get(paths.project(pid)),
    get(paths.image(pid, iid)),
    get(paths.ontology(pid)),
    annotationsOf(pid, iid, prefetched),
  ]);
  const set = annotations.body;
  return {
    project, image, ontology: ontology.ontology,
    version: versionOf(annotations.etag) ?? set.version,
    annotations: set.annotations,
    draft: readDraft(pid, iid),
  };
}

/** The image's pixels as a pyramid of ImageBitmaps (fetch and decode run beside the annotation parse), or
 * for a large image the server's tile pyramid (see render/tiles.js). */
export async function loadPixels(pid, iid, prefetchedLayout = null) {
  let layout = null;
  const early = prefetchedLayout ? await prefetchedLayout.catch(() => null) : null;
  if (early && early.ok) layout = await early.json().catch(() => null);
  if (!layout) layout = await get(paths.tiles(pid, iid));
  if (wantsTiles(layout.width, layout.height)) {
    // a large image: only the tiles in view, never the whole file
    return new TiledImage(layout, (level, column, row) => paths.tile(pid, iid, level, column, row)).ready();
  }
  const response = await fetch(paths.imageFile(pid, iid), { credentials: "same-origin" });
  if (!response.ok) throw new Error(`the image file could not be loaded (HTTP ${response.status})`);
  const bitmap = await createImageBitmap(await response.blob());
  return buildPyramid(bitmap);
}

/** The server's objects at an earlier version (the base of a draft made before someone else saved). */
export async function loadVersion(pid, iid, version) {
  try {
    return (await get(paths.history(pid, iid, version))).annotations;
  } catch {
    return null;
  }
}
