/**
 * Keeps the URL in step with the viewer: opening a file from the grid pushes `…/files/<id>`
 * (so Back closes it), moving to the next file replaces it (Back doesn't walk every file),
 * closing goes back (or replaces, after a deep link or reload).
 */

import type { FileGrid } from "./grid";
import type { Library } from "./library";
import { formatRoute, type Route } from "./router";
import type { ViewerDeps } from "./viewer";

export class ViewerUrl {
  /** True while the app applies a route (a viewer opened or closed by Back/Forward). */
  routing = false;
  private pendingPush = false;

  constructor(private readonly base: () => Route) {}

  /** The next `shown` is a fresh open from the page: push a history entry. */
  willOpen(): void {
    this.pendingPush = true;
  }

  private target(id: string | null): string {
    const b = this.base();
    return formatRoute(b.page === "files" || b.page === "share" ? { ...b, fileId: id } : b);
  }

  shown(id: string): void {
    const target = this.target(id);
    const push = this.pendingPush;
    this.pendingPush = false;
    if (this.routing || location.hash === target) return;
    if (push) history.pushState({ viewer: true }, "", target);
    else history.replaceState(history.state, "", target);
  }

  closed(): void {
    this.pendingPush = false;
    if (this.routing) return;
    const target = this.target(null);
    if (location.hash === target) return;
    if ((history.state as { viewer?: boolean } | null)?.viewer) history.back();
    else history.replaceState(null, "", target);
  }
}

/** The viewer wiring every page shares: order = the grid's, URL in step, focus back to the tile. */
export function routedViewer(url: ViewerUrl, library: Library, grid: FileGrid): Pick<ViewerDeps, "library" | "order" | "onClose" | "onShow"> {
  return {
    library,
    order: () => library.fileIds(),
    onClose: (id) => {
      url.closed();
      if (id && grid.indexOf(id) >= 0) grid.focusId(id);
      else grid.focusAt(0);
    },
    onShow: (id) => url.shown(id),
  };
}
