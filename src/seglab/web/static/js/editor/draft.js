// The local draft: unsaved work kept in localStorage per image, so it survives a reload, a crash or a lost
// connection. It holds the objects, the server version they were based on and the local -> server id map.

const key = (pid, iid) => `seglab.draft.${pid}.${iid}`;

export function readDraft(pid, iid) {
  try {
    const draft = JSON.parse(localStorage.getItem(key(pid, iid)) || "null");
    return draft && Array.isArray(draft.objects) && Number.isInteger(draft.version) ? draft : null;
  } catch {
    return null;
  }
}

export function writeDraft(pid, iid, { version, objects, idMap, nextLocalId }) {
  const draft = { version, objects, idMap: [...idMap], nextLocalId, savedAt: new Date().toISOString() };
  try {
    localStorage.setItem(key(pid, iid), JSON.stringify(draft));
    return true;
  } catch {
    return false; // storage full or disabled: the autosave state still says the work is not on the server
  }
}

export function clearDraft(pid, iid) {
  localStorage.removeItem(key(pid, iid));
}
