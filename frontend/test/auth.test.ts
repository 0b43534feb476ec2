// @vitest-environment happy-dom
import { beforeEach, describe, expect, it } from "vitest";
import { clearSession, decodeToken, expiredAt, isExpired, loadSession, saveSession, TokenError } from "../src/auth";

function b64url(obj: object): string {
  return btoa(JSON.stringify(obj)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
function token(payload: object): string {
  return `${b64url({ alg: "HS256", typ: "JWT" })}.${b64url(payload)}.c2lnbmF0dXJl`;
}
const now = Math.floor(Date.now() / 1000);
const USER = "2b0f7e0a-3a0c-4f6e-9d5e-0c5b2b7c1a11";

describe("auth", () => {
  beforeEach(() => sessionStorage.clear());

  it("decodes claims and tolerates a Bearer prefix", () => {
    const c = decodeToken(`Bearer ${token({ sub: USER, role: "admin", exp: now + 60 })}`);
    expect(c).toMatchObject({ sub: USER, role: "admin", exp: now + 60 });
    expect(decodeToken(token({ sub: USER, exp: now + 60 })).role).toBe("user");
  });

  it("rejects things that are not tokens with a helpful message", () => {
    expect(() => decodeToken("hello")).toThrow(TokenError);
    expect(() => decodeToken(token({ exp: now + 60 }))).toThrow(/sub/);
    expect(() => decodeToken(token({ sub: USER }))).toThrow(/exp/);
  });

  it("keeps a valid token in the session and notes expiry", () => {
    const t = token({ sub: USER, exp: now + 3600 });
    saveSession(t);
    expect(loadSession()?.claims.sub).toBe(USER);
    clearSession("expired");
    expect(loadSession()).toBeNull();
    expect(expiredAt()).toBe((now + 3600) * 1000);
  });

  it("refuses an expired token and drops an expired session on load", () => {
    expect(() => saveSession(token({ sub: USER, exp: now - 5 }))).toThrow(/expired/);
    sessionStorage.setItem("mediagate.token", token({ sub: USER, exp: now - 5 }));
    expect(loadSession()).toBeNull();
    expect(expiredAt()).toBe((now - 5) * 1000);
    expect(isExpired({ sub: USER, role: "user", exp: now + 10 }, Date.now(), 30)).toBe(true);
  });
});
