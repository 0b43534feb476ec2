/**
 * The public share page (`#/s/<token>`, no sign-in): the shared album's grid or the shared
 * file, the viewer and HLS player, and downloads only when the link allows them. Every link
 * it shows comes from /api/public/shares/<token> and is bound to the share, so a revoked
 * link stops working at once (the page then says so).
 */

import { Api, ApiError, PublicApi } from "./api";
import { h, icon } from "./dom";
import { formatDateTime, parseServerDate, pluralize } from "./format";
import { FileGrid } from "./grid";
import { icons } from "./icons";
import { Library } from "./library";
import type { PublicShare } from "./orgtypes";
import { parseRoute, type Route } from "./router";
import { Selection } from "./selection";
import { toast } from "./toast";
import type { FileItem, Preview } from "./types";
import { Viewer } from "./viewer";
import { routedViewer, ViewerUrl } from "./viewerurl";

/** The viewer's links for a public item (they come with the item; no /preview call). */
export function previewFromItem(item: FileItem): Preview {
  const variants: Record<string, string> = { ...(item.variants ?? {}) };
  if (item.storyboard_url) variants["storyboard.vtt"] = item.storyboard_url;
  return {
    id: item.id,
    type: item.type,
    processing_status: item.processing_status,
    placeholder: item.placeholder,
    preview_url: item.preview_url ?? item.poster_url ?? null,
    thumbnail_url: item.thumbnail_url,
    hls_url: item.hls_url ?? null,
    playable: item.playable,
    direct_play: item.direct_play,
    direct_url: null,
    progress: item.progress,
    variants,
    expires_in: 600,
  };
}

export class SharePage {
  private readonly api: Api;
  private readonly pub: PublicApi;
  private readonly library: Library;
  private readonly grid: FileGrid;
  private readonly viewer: Viewer;
  private readonly viewerUrl: ViewerUrl;
  private readonly main: HTMLElement;
  private share: PublicShare | null = null;
  private disposed = false;

  constructor(
    root: HTMLElement,
    readonly token: string,
  ) {
    this.api = new Api({ token: () => null });
    this.pub = new PublicApi(this.api, token);
    this.library = new Library({
      listFiles: (q, cursor, limit, signal) => this.pub.listFiles(q, cursor, limit, signal),
      getFile: (id, signal) => this.pub.getFile(id, signal),
    });
    this.viewerUrl = new ViewerUrl(() => ({ page: "share", token: this.token, fileId: null }));
    this.grid = new FileGrid(
      this.library,
      new Selection(),
      {
        open: (id) => {
          if (!this.viewer.isOpen) this.viewerUrl.willOpen();
          this.viewer.open(id);
        },
        requestDelete: () => undefined,
        selectAll: () => undefined,
        refreshItem: (id) => void this.pub.getFile(id).then((f) => this.library.upsert(f, true)).catch(() => undefined),
        emptyAction: () => undefined,
      },
      { readonly: true, empty: () => ({ title: "Nothing here", text: "This album has no files to show." }) },
    );
    this.viewer = new Viewer({
      api: this.api,
      ...routedViewer(this.viewerUrl, this.library, this.grid),
      download: (id) => this.download(id),
      requestDelete: async () => false,
      readonly: true,
      canDownload: () => !!this.share?.allow_download,
      preview: async (id, signal) => previewFromItem(await this.pub.getFile(id, signal)),
    });
    this.main = h("main", { id: "main", class: "main share-main", tabindex: "-1" });
    root.replaceChildren(
      h(
        "div",
        { class: "app share-app" },
        h("header", { class: "topbar" }, h("span", { class: "brand", html: icons.logo }, h("span", { class: "brand-name" }, "Mediagate")), h("span", { class: "muted share-badge" }, "Shared with you")),
        this.main,
      ),
    );
    this.main.replaceChildren(h("p", { class: "muted share-loading" }, "Opening the shared link…"));
    void this.load();
  }

  destroy(): void {
    this.disposed = true;
    this.viewerUrl.routing = true;
    this.viewer.close();
    this.viewer.dialog.remove();
    this.grid.destroy();
    this.library.stopLive();
  }

  private async load(): Promise<void> {
    try {
      this.share = await this.pub.share();
    } catch (err) {
      if (this.disposed) return;
      this.notFound(err instanceof ApiError && err.status === 404 ? null : (err as Error).message);
      return;
    }
    if (this.disposed) return;
    const s = this.share;
    document.title = `${s.name} · Shared · Mediagate`;
    const exp = parseServerDate(s.expires_at);
    const sub = [
      s.kind === "album" && s.album ? pluralize(s.album.file_count, "file") : null,
      exp ? `Link expires ${formatDateTime(exp)}` : null,
      s.allow_download ? "Downloads allowed" : "View only",
    ].filter(Boolean);
    this.main.replaceChildren(
      h("div", { class: "page-head" }, h("h1", { class: "page-title" }, s.name), h("span", { class: "muted small" }, sub.join(" · "))),
      this.grid.root,
    );
    this.main.dataset.kind = s.kind;
    await this.library.reload();
    if (this.disposed) return;
    if (this.library.error && /not found|404/i.test(this.library.error)) return this.notFound(null);
    this.grid.schedule();
    this.route(parseRoute(location.hash));
    if (s.kind === "file" && s.file && !this.viewer.isOpen && parseRoute(location.hash).page === "share") {
      this.viewerUrl.willOpen();
      this.viewer.open(s.file.id); // a shared file opens straight away
    }
  }

  private notFound(message: string | null): void {
    this.viewerUrl.routing = true;
    this.viewer.close();
    this.viewerUrl.routing = false;
    document.title = "Link not available · Mediagate";
    this.main.replaceChildren(
      h(
        "div",
        { class: "empty-card share-gone", role: "alert" },
        icon(icons.link, "icon empty-icon"),
        h("h1", {}, message ? "Could not open this link" : "This link is not available"),
        h("p", {}, message ?? "It may have expired or been revoked by its owner."),
      ),
    );
  }

  /** Back/Forward and deep links inside the share (`#/s/<token>/files/<id>`). */
  route(r: Route): void {
    if (r.page !== "share" || r.token !== this.token || !this.share) return;
    this.viewerUrl.routing = true;
    try {
      if (!r.fileId) {
        if (this.share.kind === "album") this.viewer.close();
        return;
      }
      const id = r.fileId;
      if (this.viewer.isOpen && this.viewer.current === id) return;
      if (this.library.get(id)) this.viewer.open(id);
      else {
        void this.pub
          .getFile(id)
          .then((item) => {
            this.library.adopt(item);
            const now = parseRoute(location.hash);
            if (now.page === "share" && now.fileId === id) {
              this.viewerUrl.routing = true;
              this.viewer.open(id);
              this.viewerUrl.routing = false;
            }
          })
          .catch((err: Error) => {
            if (err instanceof ApiError && err.status === 404) void this.recheck();
            else toast(err.message, "error");
          });
      }
    } finally {
      this.viewerUrl.routing = false;
    }
  }

  /** A file 404: is the whole share gone (revoked/expired) or just that file? */
  private async recheck(): Promise<void> {
    try {
      await this.pub.listFiles({ sort: "uploaded", order: "desc" }, null, 1);
      toast("That file is not part of this share.", "error");
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) this.notFound(null);
    }
  }

  private async download(id: string): Promise<void> {
    if (!this.share?.allow_download) return;
    try {
      const item = await this.pub.getFile(id);
      if (!item.download_url) throw new Error("downloads are not allowed for this link");
      const a = h("a", { href: item.download_url, download: item.name, hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
      toast(`Downloading ${item.name}`, "success");
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return this.recheck();
      toast(`Download failed: ${(err as Error).message}`, "error");
    }
  }
}
