// Start an editor page's downloads (the objects, and the image's tile layout, which says whether the image
// file or its tiles come next) at once, while the page's modules are still loading, instead of after them.
// The loader takes them if they are fresh.
import { paths } from "./api.js";

const pending = new Map();
const FRESH_MS = 15000;

export function prefetchEditor(pid, iid) {
  const key = `${pid}/${iid}`;
  if (pending.has(key)) return;
  const annotations = fetch(`/api/${paths.annotations(pid, iid)}`, { credentials: "same-origin", headers: { Accept: "application/json" } });
  const layout = fetch(`/api/${paths.tiles(pid, iid)}`, { credentials: "same-origin", headers: { Accept: "application/json" } });
  annotations.catch(() => {});
  layout.catch(() => {});
  pending.set(key, { at: Date.now(), annotations, layout });
}

/** The prefetched responses for this image (once), or null. */
export function takePrefetch(pid, iid) {
  const key = `${pid}/${iid}`;
  const entry = pending.get(key);
  pending.delete(key);
  return entry && Date.now() - entry.at < FRESH_MS ? entry : null;
}

/** Prefetch when the address is an editor or review page of one image. */
export function prefetchForPath(pathname) {
  const m = /^\/projects\/(\d+)\/(?:images|review)\/(\d+)\/?$/.exec(pathname);
  if (m) prefetchEditor(Number(m[1]), Number(m[2]));
}
