/** The user's albums: a small cache the sidebar and pages share, and the albums page (cards). */

import type { Api } from "./api";
import { h, icon } from "./dom";
import { pluralize } from "./format";
import { icons } from "./icons";
import type { Album } from "./orgtypes";

export class AlbumStore {
  items: Album[] = [];
  loaded = false;
  error: string | null = null;
  private listeners = new Set<() => void>();

  constructor(private readonly api: Api) {}

  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(): void {
    for (const fn of this.listeners) fn();
  }

  get(id: string): Album | undefined {
    return this.items.find((a) => a.id === id);
  }

  async refresh(): Promise<void> {
    try {
      const all: Album[] = [];
      let cursor: string | null = null;
      do {
        const page = await this.api.listAlbums(cursor, 200);
        all.push(...page.items);
        cursor = page.next_cursor;
      } while (cursor && all.length < 2000);
      this.items = all;
      this.error = null;
    } catch (err) {
      this.error = (err as Error).message;
    }
    this.loaded = true;
    this.emit();
  }

  /** Replace or insert one album (after create/rename/cover). */
  put(album: Album): void {
    const i = this.items.findIndex((a) => a.id === album.id);
    if (i >= 0) this.items[i] = album;
    else this.items.unshift(album);
    this.emit();
  }

  drop(id: string): void {
    this.items = this.items.filter((a) => a.id !== id);
    this.emit();
  }
}

/** The albums page: a card per album (cover, name, count) and a "New album" button. */
export function renderAlbumsPage(store: AlbumStore, onCreate: () => void): HTMLElement {
  const heading = h("div", { class: "page-head" }, h("h1", {}, "Albums"), h("span", { class: "spacer" }), h("button", { class: "btn btn-primary", type: "button", "data-action": "new-album", onclick: onCreate }, icon(icons.plus, "icon icon-sm"), "New album"));
  const list = h("ul", { class: "album-cards", "aria-label": "Albums" });
  const render = () => {
    if (!store.loaded) {
      list.replaceChildren(h("li", { class: "muted" }, "Loading albums…"));
      return;
    }
    if (store.error) {
      list.replaceChildren(h("li", { class: "error-text" }, `Could not load albums: ${store.error}`));
      return;
    }
    if (!store.items.length) {
      list.replaceChildren(h("li", { class: "empty-card" }, icon(icons.album, "icon empty-icon"), h("h2", {}, "No albums yet"), h("p", {}, "Select files in the library, then “Add to album”, or make an empty album here.")));
      return;
    }
    list.replaceChildren(
      ...store.items.map((a) =>
        h(
          "li",
          { class: "album-card", "data-album": a.id },
          h(
            "a",
            { href: `#/albums/${encodeURIComponent(a.id)}`, class: "album-link" },
            h(
              "div",
              { class: "album-cover" },
              a.cover_thumbnail_url ? h("img", { src: a.cover_thumbnail_url, alt: "", loading: "lazy" }) : icon(icons.album, "icon icon-lg"),
            ),
            h("div", { class: "album-name" }, a.name),
            h("div", { class: "muted small" }, pluralize(a.file_count, "file")),
          ),
        ),
      ),
    );
  };
  const el = h("section", { class: "albums-page", "aria-label": "Albums" }, heading, list);
  const off = store.onChange(render);
  render();
  (el as HTMLElement & { dispose?: () => void }).dispose = off;
  return el;
}
