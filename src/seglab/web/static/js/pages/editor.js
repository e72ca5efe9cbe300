// The annotation editor page; a rejected image shows the reviewer's pinned comments on the canvas.
import { mountEditor } from "../editor/editor_view.js";
import { commentMarkers, dropCommentStore } from "../editor/panels/comments_panel.js";
import { setTopbar } from "../ui/topbar.js";

export const name = "editor";

export async function mount(root, { pid, iid }) {
  setTopbar([{ text: "Projects", href: "/" }, { text: "Project", href: `/projects/${pid}` }, { text: "Editor" }]);
  const view = await mountEditor(root, { pid: Number(pid), iid: Number(iid) });
  setTopbar([{ text: "Projects", href: "/" }, { text: view.project.name, href: `/projects/${pid}` }, { text: view.image.file_name }]);
  const removeMarkers = commentMarkers(view, Number(pid), Number(iid));
  return () => {
    removeMarkers();
    dropCommentStore(Number(pid), Number(iid));
    view.dispose();
  };
}
