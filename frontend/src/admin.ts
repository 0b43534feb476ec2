/** The admin view: queue depth, jobs by status, throughput, recent failures with retry. */

import { ApiError, type Api } from "./api";
import { h, icon } from "./dom";
import { formatCount, formatDateTime, formatRelative, parseServerDate } from "./format";
import { icons } from "./icons";
import { toast } from "./toast";
import type { AdminStats } from "./types";

const STATUS_ORDER = ["queued", "processing", "completed", "failed"];

export class AdminPage {
  readonly el: HTMLElement;
  private readonly content: HTMLElement;
  private readonly updated: HTMLElement;
  private timer: ReturnType<typeof setInterval> | null = null;
  private loading = false;
  private stats: AdminStats | null = null;
  private retrying = new Set<string>();

  constructor(private readonly api: Api) {
    this.content = h("div", { class: "admin-content", "aria-live": "polite", "aria-busy": "true" });
    this.updated = h("span", { class: "muted admin-updated" });
    const refresh = h("button", { class: "btn btn-secondary", type: "button", onclick: () => void this.load() }, icon(icons.refresh), "Refresh");
    this.el = h(
      "main",
      { class: "admin", id: "main", tabindex: "-1", "aria-labelledby": "admin-title" },
      h("div", { class: "admin-head" }, h("div", {}, h("h1", { id: "admin-title" }, "Processing"), this.updated), refresh),
      this.content,
    );
  }

  start(): void {
    void this.load();
    this.timer = setInterval(() => {
      if (document.visibilityState === "visible") void this.load();
    }, 5000);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  async load(): Promise<void> {
    if (this.loading) return;
    this.loading = true;
    try {
      this.stats = await this.api.adminStats();
      this.updated.textContent = `Updated ${new Date().toLocaleTimeString()} · refreshes every 5 s`;
      this.render();
    } catch (err) {
      const e = err as ApiError;
      const text =
        e.status === 403
          ? "This page needs an admin token. Sign in with a token made with `make token ADMIN=1`."
          : e.status === 404
            ? "The admin API is not available on this server."
            : `Could not load the stats: ${e.message}`;
      this.content.replaceChildren(h("div", { class: "notice notice-error", role: "alert" }, icon(icons.alert, "icon icon-sm"), h("span", {}, text)));
      if (e.status === 403 || e.status === 404) this.stop();
    } finally {
      this.loading = false;
      this.content.setAttribute("aria-busy", "false");
    }
  }

  private render(): void {
    const s = this.stats;
    if (!s) return;
    const byStatus = s.jobs_by_status ?? {};
    const total = Object.values(byStatus).reduce((a, b) => a + Number(b || 0), 0);
    const dead = s.dead_letters;
    const avg = s.throughput.avg_processing_seconds_last_hour;
    const stat = (label: string, value: string, sub: string, cls = "") =>
      h("div", { class: `stat ${cls}` }, h("div", { class: "stat-label" }, label), h("div", { class: "stat-value" }, value), h("div", { class: "stat-sub" }, sub));
    const cards = h(
      "section",
      { class: "stats", "aria-label": "Summary" },
      stat("Queue depth", formatCount(s.queue_depth ?? 0), "messages waiting or leased", "stat-queue"),
      stat("Processing", formatCount(byStatus.processing ?? 0), `${formatCount(byStatus.queued ?? 0)} queued`),
      stat(
        "Completed · 1 h",
        formatCount(s.throughput.completed_last_hour ?? 0),
        `${formatCount(s.throughput.completed_last_24h ?? 0)} in 24 h${avg != null ? ` · avg ${avg.toFixed(1)} s` : ""}`,
      ),
      stat("Failed", formatCount(byStatus.failed ?? 0), `${formatCount(dead)} dead-lettered`, (byStatus.failed ?? 0) > 0 ? "stat-bad" : ""),
    );
    const bar = h("div", { class: "status-bar", role: "img", "aria-label": STATUS_ORDER.map((k) => `${k} ${byStatus[k] ?? 0}`).join(", ") });
    for (const k of STATUS_ORDER) {
      const n = Number(byStatus[k] ?? 0);
      if (!n) continue;
      bar.append(h("i", { class: `seg seg-${k}`, style: { flexGrow: String(n) }, title: `${k}: ${n}` }));
    }
    const legend = h(
      "ul",
      { class: "legend" },
      STATUS_ORDER.map((k) => h("li", {}, h("i", { class: `dot seg-${k}` }), `${k[0].toUpperCase()}${k.slice(1)}`, h("strong", {}, formatCount(Number(byStatus[k] ?? 0))))),
    );
    const jobs = h("section", { class: "panel", "aria-labelledby": "jobs-title" }, h("h2", { id: "jobs-title" }, `Jobs by status · ${formatCount(total)}`), bar, legend);
    const failures = s.recent_failures ?? [];
    const rows = failures.map((f) => {
      const at = parseServerDate(f.failed_at);
      const busy = this.retrying.has(f.job_id);
      const retry = h(
        "button",
        {
          class: "btn btn-secondary btn-sm",
          type: "button",
          "aria-label": `Retry processing ${f.filename ?? f.file_id}`,
          disabled: busy,
          onclick: () => void this.retry(f.job_id, f.filename ?? f.file_id ?? f.job_id),
        },
        busy ? icon(icons.spinner, "icon icon-xs") : icon(icons.refresh, "icon icon-xs"),
        busy ? "Retrying…" : "Retry",
      );
      return h(
        "tr",
        { "data-job": f.job_id },
        h("td", {}, h("div", { class: "cell-name", title: f.filename ?? "" }, f.filename ?? "(deleted file)"), h("div", { class: "mono muted" }, f.file_id)),
        h("td", { class: "cell-error" }, f.error ?? "—"),
        h("td", { class: "num" }, String(f.attempts ?? "—")),
        h("td", { title: formatDateTime(at) }, formatRelative(at)),
        h("td", {}, retry),
      );
    });
    const table = failures.length
      ? h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            { class: "table" },
            h("caption", { class: "sr-only" }, "Recent failures"),
            h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "File"), h("th", { scope: "col" }, "Reason"), h("th", { scope: "col", class: "num" }, "Attempts"), h("th", { scope: "col" }, "Failed"), h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Actions")))),
            h("tbody", {}, rows),
          ),
        )
      : h("p", { class: "empty-line" }, icon(icons.check, "icon icon-sm"), "No failed jobs.");
    const failPanel = h("section", { class: "panel", "aria-labelledby": "fail-title" }, h("h2", { id: "fail-title" }, "Recent failures"), table);
    this.content.replaceChildren(cards, jobs, failPanel);
  }

  private async retry(jobId: string, name: string): Promise<void> {
    this.retrying.add(jobId);
    this.render();
    try {
      await this.api.retryJob(jobId);
      toast(`Retrying ${name}.`, "success");
    } catch (err) {
      toast(`Could not retry ${name}: ${(err as Error).message}`, "error");
    } finally {
      this.retrying.delete(jobId);
      await this.load();
    }
  }
}
