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
