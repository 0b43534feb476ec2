/** Local sign-in: paste a bearer token (from `make token`); it lives in this tab's session. */

import { Api, ApiError } from "./api";
import { decodeToken, expiredAt, normaliseToken, saveSession, TokenError, type Session } from "./auth";
import { h, icon } from "./dom";
import { formatDateTime } from "./format";
import { icons } from "./icons";

export function renderSignIn(root: HTMLElement, onSignedIn: (s: Session) => void, notice?: string): void {
  document.title = "Sign in · Mediagate";
  const expired = expiredAt();
  const message =
    notice ?? (expired ? `Your session expired at ${formatDateTime(new Date(expired))}. Paste a new token to continue; interrupted uploads resume when you add the same files again.` : null);
  const input = h("textarea", {
    id: "token",
    name: "token",
    rows: 4,
    required: true,
    spellcheck: false,
    autocomplete: "off",
    placeholder: "eyJhbGciOiJIUzI1NiIs…",
    "aria-describedby": "token-help token-error",
  }) as HTMLTextAreaElement;
  const error = h("p", { id: "token-error", class: "form-error", role: "alert" });
  const submit = h("button", { class: "btn btn-primary btn-block", type: "submit" }, "Sign in") as HTMLButtonElement;
  const form = h(
    "form",
    { class: "signin-form", novalidate: true },
    h("label", { for: "token" }, "Access token"),
    input,
    h(
      "p",
      { id: "token-help", class: "hint" },
      "Run ",
      h("code", {}, "make token USER=<uuid>"),
      " (add ",
      h("code", {}, "ADMIN=1"),
      " for the admin view) and paste the token here. It is kept for this browser tab only.",
    ),
    error,
    submit,
  ) as HTMLFormElement;
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    const raw = normaliseToken(input.value);
    if (!raw) {
      error.textContent = "Paste a token first.";
      input.focus();
      return;
    }
    try {
      decodeToken(raw);
    } catch (err) {
      error.textContent = (err as Error).message;
      input.focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = "Checking…";
    try {
      const api = new Api({ token: () => raw });
      await api.listFiles({}, null, 1);
      onSignedIn(saveSession(raw));
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) error.textContent = `The server refused this token: ${err.message}.`;
      else if (err instanceof TokenError) error.textContent = err.message;
      else error.textContent = (err as Error).message;
      input.focus();
    } finally {
      submit.disabled = false;
      submit.textContent = "Sign in";
    }
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  root.replaceChildren(
    h(
      "main",
      { class: "signin" },
      h(
        "section",
        { class: "signin-card", "aria-labelledby": "signin-title" },
        h("div", { class: "brand brand-lg", html: icons.logo }, h("span", {}, "Mediagate")),
        h("h1", { id: "signin-title" }, "Sign in to your media library"),
        message ? h("div", { class: "notice notice-warn", role: "status" }, icon(icons.alert, "icon icon-sm"), h("span", {}, message)) : null,
        form,
      ),
      h("p", { class: "signin-foot" }, "Resumable uploads · HLS previews · streamed ZIP downloads"),
    ),
  );
  input.focus();
}
