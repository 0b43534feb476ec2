/** The session: a bearer token pasted by the user, kept in sessionStorage for this tab. */

export interface Claims {
  sub: string;
  role: string;
  exp: number; // seconds since the epoch
  iat?: number;
}

const KEY = "mediagate.token";
const EXPIRED_KEY = "mediagate.expired";

function base64UrlDecode(part: string): string {
  const b64 = part.replace(/-/g, "+").replace(/_/g, "/");
  const padded = b64 + "=".repeat((4 - (b64.length % 4)) % 4);
  const binary = atob(padded);
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

export class TokenError extends Error {}

/** Read (not verify: the server does that) a JWT's claims; throws TokenError with a helpful message. */
export function decodeToken(raw: string): Claims {
  const token = raw.trim().replace(/^Bearer\s+/i, "");
  const parts = token.split(".");
  if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]*$/.test(p))) {
    throw new TokenError("That doesn't look like a token: expected three dot-separated parts (a JWT).");
  }
  let payload: Record<string, unknown>;
  try {
    payload = JSON.parse(base64UrlDecode(parts[1]));
  } catch {
    throw new TokenError("The token's payload could not be read.");
  }
  if (typeof payload.sub !== "string" || !payload.sub) throw new TokenError("The token names no user (sub).");
  if (typeof payload.exp !== "number") throw new TokenError("The token has no expiry (exp).");
  return {
    sub: payload.sub,
    role: typeof payload.role === "string" ? payload.role : "user",
    exp: payload.exp,
    iat: typeof payload.iat === "number" ? payload.iat : undefined,
  };
}

export function isExpired(claims: Claims, nowMs: number = Date.now(), skewSeconds = 0): boolean {
  return claims.exp * 1000 <= nowMs + skewSeconds * 1000;
}

export interface Session {
  token: string;
  claims: Claims;
}

export function normaliseToken(raw: string): string {
  return raw.trim().replace(/^Bearer\s+/i, "");
}

export function loadSession(storage: Storage = sessionStorage): Session | null {
  const token = storage.getItem(KEY);
  if (!token) return null;
  try {
    const claims = decodeToken(token);
    if (isExpired(claims)) {
      storage.removeItem(KEY);
      storage.setItem(EXPIRED_KEY, String(claims.exp));
      return null;
    }
    return { token, claims };
  } catch {
    storage.removeItem(KEY);
    return null;
  }
}

export function saveSession(token: string, storage: Storage = sessionStorage): Session {
  const clean = normaliseToken(token);
  const claims = decodeToken(clean);
  if (isExpired(claims)) {
    throw new TokenError(`This token expired on ${new Date(claims.exp * 1000).toLocaleString()}. Make a new one with \`make token\`.`);
  }
  storage.setItem(KEY, clean);
  storage.removeItem(EXPIRED_KEY);
  return { token: clean, claims };
}

/** Forget the token; `expired` leaves a note so the sign-in screen can say why. */
export function clearSession(reason: "signout" | "expired", storage: Storage = sessionStorage): void {
  const token = storage.getItem(KEY);
  storage.removeItem(KEY);
  if (reason === "expired") {
    let exp = String(Math.floor(Date.now() / 1000));
    try {
      if (token) exp = String(decodeToken(token).exp);
    } catch {
      /* keep now */
    }
    storage.setItem(EXPIRED_KEY, exp);
  } else {
    storage.removeItem(EXPIRED_KEY);
  }
}

/** When the last session expired (ms), if it did. */
export function expiredAt(storage: Storage = sessionStorage): number | null {
  const raw = storage.getItem(EXPIRED_KEY);
  return raw ? Number(raw) * 1000 : null;
}

export function shortUser(sub: string): string {
  return sub.length > 8 ? sub.slice(0, 8) : sub;
}
