/** Shapes of the organize/share API (issue 11): albums, share links, facets, public shares. */

import type { FileItem } from "./types";

/**
 * What file items carry beyond the generated FileItem (rename, favourite, trash, date taken and
 * camera fields come from api-types.gen.ts): the albums of GET /api/files/{id}, and the links
 * public share items carry instead of a /preview call. types.ts's FileItem extends it.
 */
export interface OrgFileFields {
  album_ids?: string[];
  /** Public share items: links come with the item (no /preview call). */
  preview_url?: string | null;
  hls_url?: string | null;
  poster_url?: string | null;
  storyboard_url?: string | null;
  download_url?: string | null;
  variants?: Record<string, string>;
}

export interface Album {
  id: string;
  name: string;
  file_count: number;
  cover_file_id: string | null;
  cover_thumbnail_url: string | null;
  created_at: string;
  updated_at: string;
}

export interface AlbumPage {
  items: Album[];
  next_cursor: string | null;
}

export type ShareKind = "file" | "album";

export interface Share {
  id: string;
  token: string;
  url: string;
  kind: ShareKind;
  target_id: string;
  expires_at: string | null;
  allow_download: boolean;
  views: number;
  created_at: string;
  revoked_at: string | null;
}

export interface NewShare {
  file_id?: string;
  album_id?: string;
  /** null = never expires. */
  expires_in_seconds?: number | null;
  allow_download?: boolean;
}

export interface PublicShare {
  kind: ShareKind;
  name: string;
  allow_download: boolean;
  expires_at: string | null;
  file: FileItem | null;
  album: { name: string; file_count: number } | null;
}

export interface Facets {
  camera_makes: string[];
  camera_models: string[];
  lenses: string[];
}
