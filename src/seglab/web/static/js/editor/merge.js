// Three-way merge of an image's objects after a version conflict: the last server copy both sides started
// from (base), the user's objects (mine) and the server's current copy (theirs), compared per server id.
// Pure functions; the conflict view lets the user change each proposed choice before saving.

const FIELDS = ["label", "kind", "attributes", "z_order", "group_id", "track_id", "crowd", "source", "score"];

function canonical(value) {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, canonical(value[k])]));
  }
  return value ?? null;
}

/** Do two annotation documents describe the same object (label, geometry, attributes, order)? */
export function sameObject(a, b) {
  if (!a || !b) return !a && !b;
  const pick = (o) => {
    const g = { ...o[o.kind] };
    if (o.kind === "box") g.rotation = g.rotation || 0;
    if (o.kind === "polygon") g.parts = g.parts.map((p) => ({ exterior: p.exterior, holes: p.holes || [] }));
    return canonical({ ...Object.fromEntries(FIELDS.map((f) => [f, o[f]])), geometry: g });
  };
  return JSON.stringify(pick(a)) === JSON.stringify(pick(b));
}

/**
 * Rows of differences. `mine` is a list of {sid (server id or null for new objects), obj}; `base` and
 * `theirs` map server ids to documents. Each row: {sid, base, mine, theirs, status, choice, options}.
 * Statuses: "added-mine", "changed-mine", "deleted-mine", "added-theirs", "changed-theirs", "deleted-theirs",
 * "both". Objects nobody changed are left out (they are the same on both sides).
 */
export function diffThreeWay(base, mine, theirs) {
  const rows = [];
  const mineBySid = new Map();
  for (const m of mine) {
    if (m.sid === null || m.sid === undefined) rows.push({ sid: null, base: null, mine: m.obj, theirs: null, status: "added-mine", choice: "mine", options: ["mine", "drop"] });
    else mineBySid.set(m.sid, m.obj);
  }
  const sids = new Set([...base.keys(), ...mineBySid.keys(), ...theirs.keys()]);
  for (const sid of [...sids].sort((a, b) => a - b)) {
    const b = base.get(sid) || null;
    const m = mineBySid.get(sid) || null;
    const t = theirs.get(sid) || null;
    const mineChanged = !sameObject(m, b);
    const theirsChanged = !sameObject(t, b);
    if (!mineChanged && !theirsChanged) continue;
    if (mineChanged && theirsChanged && sameObject(m, t)) continue;
    let status;
    let choice;
    if (mineChanged && !theirsChanged) {
      status = !m ? "deleted-mine" : !b ? "added-mine" : "changed-mine";
      choice = "mine";
    } else if (!mineChanged && theirsChanged) {
      status = !t ? "deleted-theirs" : !b ? "added-theirs" : "changed-theirs";
      choice = "theirs";
    } else {
      status = "both";
      choice = "mine";
    }
    const options = m && t ? ["mine", "theirs", "both"] : ["mine", "theirs"];
    rows.push({ sid, base: b, mine: m, theirs: t, status, choice, options });
  }
  return rows;
}

/**
 * The merged list: every object of `mine` not in a row is kept; each row contributes what its choice says.
 * Returns [{from: "mine" | "theirs", obj, sid}] where sid is the server id the object keeps (null: new).
 */
export function applyChoices(mine, theirs, rows) {
  const rowBySid = new Map(rows.filter((r) => r.sid !== null).map((r) => [r.sid, r]));
  const out = [];
  for (const m of mine) {
    if (m.sid === null || m.sid === undefined) {
      const row = rows.find((r) => r.sid === null && r.mine === m.obj);
      if (!row || row.choice !== "drop") out.push({ from: "mine", obj: m.obj, sid: null });
      continue;
    }
    const row = rowBySid.get(m.sid);
    if (!row) out.push({ from: "mine", obj: m.obj, sid: m.sid });
  }
  for (const row of rows) {
    if (row.sid === null) continue;
    if ((row.choice === "mine" || row.choice === "both") && row.mine) out.push({ from: "mine", obj: row.mine, sid: row.sid });
    if (row.choice === "theirs" && row.theirs) out.push({ from: "theirs", obj: row.theirs, sid: row.sid });
    if (row.choice === "both" && row.theirs) out.push({ from: "theirs", obj: row.theirs, sid: null });
  }
  return out;
}

export const STATUS_TEXT = {
  "added-mine": "added by you",
  "changed-mine": "changed by you",
  "deleted-mine": "deleted by you",
  "added-theirs": "added by them",
  "changed-theirs": "changed by them",
  "deleted-theirs": "deleted by them",
  both: "changed by both",
};
