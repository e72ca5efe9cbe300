// The conflict view: after a 412 the user's objects stay on the canvas, the server's differing objects are
// drawn dashed beside them, and a panel lists each difference with a choice (yours, theirs, or both). Saving
// the merge makes the server's copy the new base and sends the merged objects with its version.
import { h, replace, rgb } from "../dom.js";
import { STATUS_TEXT, applyChoices, diffThreeWay } from "./merge.js";

const CHOICE_TEXT = { mine: "yours", theirs: "theirs", both: "both", drop: "drop" };

/** The merged document objects with local ids, from the chosen rows. */
function mergedObjects(editor, autosave, current, rows) {
  const doc = editor.doc;
  const mine = doc.objects.map((obj) => ({ sid: autosave.serverIdOf(obj.id), obj }));
  const theirs = new Map(current.annotations.map((a) => [a.id, a]));
  const localBySid = new Map(mine.filter((m) => m.sid !== null).map((m) => [m.sid, m.obj.id]));
  const used = new Set(doc.objects.map((o) => o.id));
  return applyChoices(mine, theirs, rows).map((item) => {
    if (item.from === "mine") return item.obj;
    if (item.sid === null) return { ...item.obj, id: doc.newId() };
    let local = localBySid.get(item.sid);
    if (local === undefined) local = used.has(item.sid) ? doc.newId() : item.sid;
    if (local !== item.sid) autosave.idMap.set(local, item.sid);
    return { ...item.obj, id: local };
  });
}

export function openConflict(host, editor, autosave) {
  const current = autosave.conflict;
  const mine = editor.doc.objects.map((obj) => ({ sid: autosave.serverIdOf(obj.id), obj }));
  const theirs = new Map(current.annotations.map((a) => [a.id, a]));
  const rows = diffThreeWay(autosave.base, mine, theirs);
  editor.ghosts = rows.filter((r) => r.theirs && r.status !== "added-mine").map((r) => r.theirs);
  editor.requestRender();

  const body = h("tbody");
  const panel = h("div", { class: "conflict", testid: "conflict-panel", role: "dialog", "aria-label": "Merge with the server's copy" },
    h("h2", { text: `Someone else saved this image (version ${current.version})` }),
    h("p", { class: "small", text: "Nothing is lost: your objects stay as they are, theirs are drawn dashed. Pick what to keep, then save the merge." }),
    h("div", { class: "legend" }, h("span", { class: "mine", text: "yours: solid" }), h("span", { class: "theirs", text: "theirs: dashed pink" })),
    h("table", {}, h("thead", {}, h("tr", {}, h("th", { text: "Object" }), h("th", { text: "What happened" }), h("th", { text: "Keep" }))), body),
    h("div", { class: "row end" },
      h("button", { class: "ghost small", on: { click: () => all("mine") } }, "All yours"),
      h("button", { class: "ghost small", on: { click: () => all("theirs") } }, "All theirs"),
      h("button", { class: "primary", testid: "conflict-save", on: { click: save } }, "Save merge")));

  function describe(obj) {
    const cls = editor.classOf(obj);
    return h("span", { class: "row" }, h("span", { class: "swatch", style: { background: rgb(cls.color) } }),
      h("span", { text: `${obj.label} · ${obj.kind}` }));
  }

  function draw() {
    replace(body, rows.length ? rows.map((row) => {
      const select = h("select", { value: row.choice, testid: "conflict-choice", on: { change: () => (row.choice = select.value) } },
        row.options.map((o) => h("option", { value: o, text: CHOICE_TEXT[o] })));
      select.value = row.choice;
      return h("tr", {}, h("td", {}, describe(row.mine || row.theirs)), h("td", { text: STATUS_TEXT[row.status] }), h("td", {}, select));
    }) : h("tr", {}, h("td", { colspan: 3, text: "Both copies hold the same objects." })));
  }

  function all(choice) {
    for (const row of rows) if (row.options.includes(choice)) row.choice = choice;
    draw();
  }

  async function save() {
    const merged = mergedObjects(editor, autosave, current, rows);
    close();
    autosave.resolved(current);
    editor.doc.replaceAll(merged, "merge");
    await autosave.save();
  }

  function close() {
    editor.ghosts = null;
    editor.requestRender();
    panel.remove();
  }

  draw();
  host.append(panel);
  return close;
}
