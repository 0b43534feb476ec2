/**
 * Shapes of the Mediagate API, taken from the generated `api-types.gen.ts` (the OpenAPI
 * document at /api/openapi.json; regenerate with `make api-types`). Only client-side
 * additions are written here.
 */
import type { components } from "./api-types.gen";

import type { OrgFileFields } from "./orgtypes";

type Schemas = components["schemas"];

export type FileType = Schemas["FileItem"]["type"];
export type ProcessingStatus = Schemas["FileItem"]["processing_status"];

/**
 * A library item: the API's file (with `metadata` when it came from GET /api/files/{id}); the
 * organize/share fields (issue 11) come from orgtypes.ts.
 */
export type FileItem = Schemas["FileDetail"] & OrgFileFields & {
  /** Client-only: the local (Uppy) thumbnail of a file uploaded from this tab, until the server's arrives. */
  local_thumbnail?: string;
};

export type FilePage = Schemas["FileList"];
export type Preview = Schemas["Preview"];
export type DownloadLink = Schemas["DownloadLink"];
export type AdminStats = Schemas["AdminStats"];
export type AdminFailure = AdminStats["recent_failures"][number];

export interface Filters {
  type: FileType | "";
  status: ProcessingStatus | "";
  q: string;
}
