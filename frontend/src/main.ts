import "@fontsource-variable/inter";
import "./styles.css";

import { App } from "./app";
import { clearSession, isExpired, loadSession, type Session } from "./auth";
import { registerDownloadWorker } from "./download";
import { parseRoute } from "./router";
import { SharePage } from "./sharepage";
import { renderSignIn } from "./signin";

const root = document.getElementById("app")!;
let app: App | null = null;
let share: SharePage | null = null;

function signedIn(session: Session): void {
  app = new App({
    root,
    session,
    onSignOut: (reason, message) => {
      app?.destroy();
      app = null;
      if (reason === "expired" && !isExpired(session.claims, Date.now(), 5)) {
        // A 401 before the token's own expiry: the server refused it (new secret, revoked…).
        clearSession("signout");
        renderSignIn(root, signedIn, `The server no longer accepts your token (${message ?? "401"}). Paste a new one to continue.`);
        return;
      }
      clearSession(reason);
      renderSignIn(root, signedIn);
    },
  });
}

/** Share links (`#/s/<token>`) open the public page, signed in or not; anything else is the app. */
function boot(): void {
  const route = parseRoute(location.hash);
  if (route.page === "share") {
    if (share?.token !== route.token) {
      app?.destroy();
      app = null;
      share?.destroy();
      share = new SharePage(root, route.token);
    } else share.route(route);
    return;
  }
  if (share) {
    share.destroy();
    share = null;
  } else if (app) return; // the app routes its own pages
  const session = loadSession();
  if (session) signedIn(session);
  else renderSignIn(root, signedIn);
}

registerDownloadWorker();
window.addEventListener("hashchange", boot);
boot();
