/** Toasts in a polite live region (errors are assertive). */

import { h, icon } from "./dom";
import { icons } from "./icons";

export type ToastKind = "info" | "success" | "error";

let region: HTMLElement | null = null;

function ensureRegion(): HTMLElement {
  if (region?.isConnected) return region;
  region = h("div", { class: "toasts", role: "region", "aria-label": "Notifications" });
  document.body.append(region);
  return region;
}

export function toast(message: string, kind: ToastKind = "info", opts: { action?: { label: string; run: () => void }; timeout?: number } = {}): () => void {
  const root = ensureRegion();
  const close = () => {
    el.classList.add("leaving");
    setTimeout(() => el.remove(), 200);
  };
  const el = h(
    "div",
    { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" },
    icon(kind === "error" ? icons.alert : kind === "success" ? icons.check : icons.cloud, "icon icon-sm"),
    h("span", { class: "toast-text" }, message),
    opts.action
      ? h("button", { class: "btn btn-link", type: "button", onclick: () => { opts.action!.run(); close(); } }, opts.action.label)
      : null,
    h("button", { class: "btn-icon btn-icon-sm", type: "button", "aria-label": "Dismiss notification", onclick: close }, icon(icons.close)),
  );
  root.append(el);
  const timeout = opts.timeout ?? (kind === "error" ? 9000 : 4500);
  if (timeout > 0) setTimeout(close, timeout);
  return close;
}
