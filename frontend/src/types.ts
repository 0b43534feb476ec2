/** Shapes of the Mediagate API (see worker/src/mediagate/api/*.py). */

import type { OrgFileFields } from "./orgtypes";

export type FileType = "video" | "image" | "other";
export type ProcessingStatus = "pending" | "processing" | "completed" | "failed";

/** A library item; the organize/share fields (issue 11) live in orgtypes.ts. */
export interface FileItem extends OrgFileFields {
  id: string;
  name: string;
  size: number;
  type: FileType;
  mime_type: string;
  upload_status: string;
  processing_status: ProcessingStatus;
  progress: number;
  error: string | null;
  thumbnail_url: string | null;
  placeholder: string | null;
  /** Video: HLS plays now (the lowest rung grows from its first segment while the ladder encodes). */
  playable?: boolean;
  /** Video: the browser can play the original itself; null = not probed yet (try, then fall back). */
  direct_play?: boolean | null;
  /** Client-only: the local (Uppy) thumbnail of a file uploaded from this tab, until the server's arrives. */
  local_thumbnail?: string;
  width: number | null;
  height: number | null;
  duration: number | null;
  created_at: string;
  updated_at: string;
  metadata?: Record<string, unknown>;
}

export interface FilePage {
  items: FileItem[];
  next_cursor: string | null;
}

export interface Preview {
  id: string;
  type: FileType;
  processing_status: ProcessingStatus;
  placeholder: string | null;
  preview_url: string | null;
  thumbnail_url: string | null;
  hls_url: string | null;
  playable?: boolean;
  direct_play?: boolean | null;
  direct_url?: string | null;
  progress?: number;
  variants: Record<string, string>;
  expires_in?: number;
}

export interface DownloadLink {
  id: string;
  name: string;
  size: number;
  url: string;
  region: string;
  expires_in?: number;
}

export interface AdminFailure {
  job_id: string;
  file_id: string;
  user_id?: string | null;
  filename: string | null;
  error: string | null;
  failed_at: string | null;
  attempts: number | null;
}

export interface AdminStats {
  queue_depth: number;
  jobs_by_status: Record<string, number>;
  recent_failures: AdminFailure[];
  throughput?: Record<string, number> | number | null;
  dead_letters?: number | unknown[] | null;
  [key: string]: unknown;
}

export interface Filters {
  type: FileType | "";
  status: ProcessingStatus | "";
  q: string;
}
