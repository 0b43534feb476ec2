/**
 * Uploads: Uppy's Dashboard (drag and drop, file picker, per-file and total progress,
 * pause/resume, retry) over tus with 50 MiB chunks. tus-js-client remembers every upload
 * URL in localStorage, so an upload interrupted by a reload, a crash or a lost
 * connection resumes from the server's offset when the same file is added again.
 */

import Uppy, { type UppyFile } from "@uppy/core";
import Dashboard from "@uppy/dashboard";
import DropTarget from "@uppy/drop-target";
import Tus from "@uppy/tus";
import "@uppy/core/css/style.min.css";
import "@uppy/dashboard/css/style.min.css";

import { guessType, type Library } from "./library";
import { findInterrupted, type InterruptedUpload } from "./resume";

export { findInterrupted };

export const CHUNK_SIZE = 50 * 1024 * 1024; // < 100 MB, the Worker's request body limit
export const MAX_FILE_SIZE = 5_000_000_000;

export interface UploaderDeps {
  library: Library;
  userId: string;
  token(): string | null;
  onUnauthorized(): void;
  notify(message: string, kind?: "info" | "error" | "success"): void;
}

/** The file id the server put on an upload's last answer (``Mediagate-File-Id``), if any. */
export function uploadedFileId(response: unknown): string | null {
  const xhr = (response as { body?: { xhr?: { getResponseHeader?(name: string): string | null } } } | undefined)?.body?.xhr;
  const id = typeof xhr?.getResponseHeader === "function" ? xhr.getResponseHeader("Mediagate-File-Id") : null;
  return id && /^[0-9a-f-]{36}$/i.test(id) ? id : null;
}

export class Uploader {
  readonly uppy: Uppy;
  readonly endpoint: string;
  readonly instanceId: string;
  private listeners = new Set<() => void>();
  interrupted: InterruptedUpload[] = [];
  totalProgress = 0;

  constructor(private readonly deps: UploaderDeps) {
    this.endpoint = `${location.origin}/api/upload`;
    this.instanceId = `mg${deps.userId.replace(/-/g, "").slice(0, 12)}`;
    this.uppy = new Uppy({
      id: this.instanceId,
      autoProceed: true,
      allowMultipleUploadBatches: true,
      restrictions: { maxFileSize: MAX_FILE_SIZE },
    });
    this.uppy.use(Dashboard, {
      inline: false,
      target: "body",
      theme: "dark",
      closeModalOnClickOutside: true,
      animateOpenClose: true,
      proudlyDisplayPoweredByUppy: false,
      showProgressDetails: true,
      hideProgressAfterFinish: false,
      showRemoveButtonAfterComplete: false,
      fileManagerSelectionType: "files",
      note: "Videos, photos (RAW and LOG too) and any other file, up to 5 GB each. Interrupted uploads resume where they stopped.",
      doneButtonHandler: () => {
        this.clearFinished();
        this.close();
      },
    } as never);
    this.uppy.use(DropTarget, { target: document.body, onDrop: () => this.open() });
    this.uppy.use(Tus, {
      endpoint: this.endpoint,
      chunkSize: CHUNK_SIZE,
      limit: 3,
      retryDelays: [0, 1000, 3000, 5000, 10000, 20000],
      removeFingerprintOnSuccess: true,
      onBeforeRequest: (req) => {
        const token = this.deps.token();
        if (token) req.setHeader("Authorization", `Bearer ${token}`);
      },
      onShouldRetry: (err, attempt, _opts, next) => {
        const status = err.originalResponse?.getStatus();
        if (status === 401) {
          this.deps.onUnauthorized();
          return false;
        }
        if (status === 423 || status === 409) return attempt < 20; // another PATCH holds the upload, or offsets crossed
        return next(err);
      },
    });
    this.bind();
    this.refreshInterrupted();
  }

  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(): void {
    for (const fn of this.listeners) fn();
  }

  private key(file: UppyFile<any, any>): string {
    return `upload:${file.id}`;
  }

  private tile(file: UppyFile<any, any>, patch: Partial<Parameters<Library["setUpload"]>[0]> = {}): void {
    const lib = this.deps.library;
    const existing = lib.uploads.get(this.key(file));
    const total = file.size ?? 0;
    const sent = file.progress?.bytesUploaded ?? 0;
    lib.setUpload({
      key: this.key(file),
      name: file.name ?? "file",
      size: total,
      type: guessType(file.name ?? "", file.type ?? ""),
      progress: total ? Math.min(100, (Number(sent) / total) * 100) : 0,
      state: file.isPaused ? "paused" : "uploading",
      preview: existing?.preview ?? file.preview,
      ...patch,
    });
  }

  private bind(): void {
    const uppy = this.uppy;
    const lib = this.deps.library;
    uppy.on("file-added", (file) => {
      this.tile(file, { state: "queued", progress: 0 });
      // A re-added file takes over its interrupted record.
      this.interrupted = this.interrupted.filter((u) => !u.storageKey.startsWith(`tus::tus-${file.id}-`));
      this.emit();
    });
    uppy.on("thumbnail:generated" as never, ((file: UppyFile<any, any>, preview: string) => {
      const t = lib.uploads.get(this.key(file));
      if (t) lib.setUpload({ ...t, preview });
    }) as never);
    uppy.on("upload-progress", (file) => {
      if (file) this.tile(file);
    });
    uppy.on("upload-pause", (file, paused) => {
      if (file) this.tile(file, { state: paused ? "paused" : "uploading" });
    });
    uppy.on("upload-retry", (file) => this.tile(file, { state: "uploading", error: undefined }));
    uppy.on("upload-error", (file, error, response) => {
      if (!file) return;
      const status = response?.status;
      const detail = status ? ` (HTTP ${status})` : "";
      this.tile(file, { state: "error", error: `${error.message.split("\n")[0].slice(0, 160)}${detail}` });
      this.deps.notify(`Upload of ${file.name} failed. Retry it from the upload panel.`, "error");
    });
    uppy.on("upload-success", (file, response) => {
      if (!file) return;
      this.tile(file, { state: "done", progress: 100 });
      const key = this.key(file);
      const preview = lib.uploads.get(key)?.preview;
      if (preview) lib.rememberLocalThumb(file.name ?? "file", file.size ?? 0, preview);
      // The last PATCH's answer names the new file: it is fetched and shown at once (no
      // list refresh); without the header (an older server) the newest page is re-read.
      const fileId = uploadedFileId(response);
      void (async () => {
        const shown = fileId ? await lib.arrive(fileId) : false;
        if (!shown) await lib.refreshHead();
        // Keep the tile until the file row shows up (the processing queue takes over).
        if (shown) lib.removeUpload(key);
        else setTimeout(() => lib.removeUpload(key), 400);
      })();
    });
    uppy.on("file-removed", (file) => {
      lib.removeUpload(this.key(file));
      this.emit();
    });
    uppy.on("progress", (p) => {
      this.totalProgress = p;
      this.emit();
    });
    uppy.on("complete", (result) => {
      const ok = result.successful?.length ?? 0;
      const failed = result.failed?.length ?? 0;
      if (ok) this.deps.notify(`${ok} ${ok === 1 ? "upload" : "uploads"} complete${failed ? `, ${failed} failed` : ""}. Processing has started.`, failed ? "error" : "success");
      this.refreshInterrupted();
      this.emit();
    });
    uppy.on("dashboard:modal-closed", () => {
      this.clearFinished(); // the next open starts with an empty drop zone
      this.emit();
    });
    uppy.on("dashboard:modal-open", () => this.emit());
    uppy.on("restriction-failed", (file, error) => this.deps.notify(`${file?.name ?? "A file"}: ${error.message}`, "error"));
  }

  /** Files still uploading (or paused/failed) in this tab. */
  active(): { count: number; progress: number; paused: boolean; failed: number } {
    const files = this.uppy.getFiles();
    const running = files.filter((f) => !f.progress?.uploadComplete);
    const failed = running.filter((f) => f.error).length;
    const paused = running.length > 0 && running.every((f) => f.isPaused || f.error);
    return { count: running.length, progress: this.totalProgress, paused, failed };
  }

  open(): void {
    const dash = this.uppy.getPlugin("Dashboard") as unknown as { openModal(): Promise<void>; isModalOpen(): boolean } | undefined;
    if (dash && !dash.isModalOpen()) void dash.openModal();
  }

  close(): void {
    const dash = this.uppy.getPlugin("Dashboard") as unknown as { closeModal(): void; isModalOpen(): boolean } | undefined;
    if (dash?.isModalOpen()) dash.closeModal();
  }

  isOpen(): boolean {
    const dash = this.uppy.getPlugin("Dashboard") as unknown as { isModalOpen(): boolean } | undefined;
    return !!dash?.isModalOpen();
  }

  addFiles(files: File[]): void {
    for (const file of files) {
      try {
        this.uppy.addFile({ name: file.name, type: file.type, data: file, source: "Local", isRemote: false });
      } catch (err) {
        this.deps.notify(`${file.name}: ${(err as Error).message}`, "error");
      }
    }
  }

  private clearFinished(): void {
    const done = this.uppy.getFiles().filter((f) => f.progress?.uploadComplete);
    if (done.length) this.uppy.removeFiles(done.map((f) => f.id));
  }

  /** Re-read interrupted uploads and ask the server how far each got. */
  refreshInterrupted(): void {
    const inProgress = new Set(this.uppy.getFiles().map((f) => f.id));
    const found = findInterrupted(localStorage, this.instanceId, this.endpoint).filter(
      (u) => ![...inProgress].some((id) => u.storageKey.startsWith(`tus::tus-${id}-`)),
    );
    this.interrupted = found;
    this.emit();
    for (const u of found) {
      void fetch(u.uploadUrl, { method: "HEAD", headers: { "Tus-Resumable": "1.0.0", ...this.authHeader() } })
        .then((res) => {
          if (res.status === 404 || res.status === 410) {
            localStorage.removeItem(u.storageKey);
            this.interrupted = this.interrupted.filter((x) => x !== u);
          } else if (res.ok) {
            u.offset = Number(res.headers.get("Upload-Offset")) || 0;
          }
          this.emit();
        })
        .catch(() => undefined);
    }
  }

  private authHeader(): Record<string, string> {
    const token = this.deps.token();
    return token ? { Authorization: `Bearer ${token}` } : {};
  }

  /** Give up on interrupted uploads: terminate them on the server and forget them. */
  async discardInterrupted(): Promise<void> {
    const list = this.interrupted;
    this.interrupted = [];
    this.emit();
    await Promise.allSettled(
      list.map(async (u) => {
        localStorage.removeItem(u.storageKey);
        await fetch(u.uploadUrl, { method: "DELETE", headers: { "Tus-Resumable": "1.0.0", ...this.authHeader() } });
      }),
    );
  }

  destroy(): void {
    this.uppy.destroy();
  }
}
