// Next / previous image: the list the user came from (the project grid's filter, or the review queue),
// kept in sessionStorage and extended page by page with the API's cursor when the user walks past its end.
import { get, paths } from "./api.js";

const key = (pid) => `seglab.nav.${pid}`;

/** Remember the image ids shown for `filter` (URL query for the images list) and the cursor after them. */
export function rememberList(pid, filter, ids, nextCursor) {
  sessionStorage.setItem(key(pid), JSON.stringify({ filter, ids, nextCursor }));
}

function recall(pid) {
  try {
    return JSON.parse(sessionStorage.getItem(key(pid)) || "null");
  } catch {
    return null;
  }
}

async function fetchPage(pid, filter, cursor) {
  const q = new URLSearchParams(filter || "");
  q.set("limit", "200");
  if (cursor) q.set("cursor", cursor);
  return get(`${paths.images(pid)}?${q}`);
}

/** The id of the image after (step=1) or before (step=-1) `iid` in the remembered list, or null. */
export async function neighbour(pid, iid, step) {
  let list = recall(pid);
  if (!list || !list.ids.includes(iid)) {
    // Opened directly: walk the project in id order until the image shows up (bounded).
    list = { filter: "sort=id", ids: [], nextCursor: null };
    let cursor = null;
    for (let pages = 0; pages < 50; pages++) {
      const page = await fetchPage(pid, list.filter, cursor);
      list.ids.push(...page.items.map((i) => i.id));
      cursor = page.next_cursor;
      if (list.ids.includes(iid) || !cursor) break;
    }
    list.nextCursor = cursor;
  }
  let at = list.ids.indexOf(iid);
  if (step > 0 && at === list.ids.length - 1 && list.nextCursor) {
    const page = await fetchPage(pid, list.filter, list.nextCursor);
    list.ids.push(...page.items.map((i) => i.id));
    list.nextCursor = page.next_cursor;
  }
  rememberList(pid, list.filter, list.ids, list.nextCursor);
  at = list.ids.indexOf(iid);
  const target = list.ids[at + step];
  return target === undefined ? null : target;
}
