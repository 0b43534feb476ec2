/** Shapes of the Mediagate API (see worker/src/mediagate/api/*.py). */

export type FileType = "video" | "image" | "other";
export type ProcessingStatus = "pending" | "processing" | "completed" | "failed";

export interface FileItem {
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
  // --- issue 11 (organize/share); optional until every server returns them ---
  /** Display name (rename changes it); `name` mirrors it on the client. */
  filename?: string;
  original_filename?: string;
  favourite?: boolean;
  trashed_at?: string | null;
  taken_at?: string | null;
  camera_make?: string | null;
  camera_model?: string | null;
  lens?: string | null;
  album_ids?: string[];
  /** Public share items: links come with the item (no /preview call). */
  preview_url?: string | null;
  hls_url?: string | null;
  poster_url?: string | null;
  storyboard_url?: string | null;
  download_url?: string | null;
  variants?: Record<string, string>;
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
