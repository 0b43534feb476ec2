import "@fontsource-variable/inter";
import "./styles.css";

import { App } from "./app";
import { clearSession, isExpired, loadSession, type Session } from "./auth";
import { registerDownloadWorker } from "./download";
import { renderSignIn } from "./signin";

const root = document.getElementById("app")!;
let app: App | null = null;

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

registerDownloadWorker();
const session = loadSession();
if (session) signedIn(session);
else renderSignIn(root, signedIn);
