"""Short-lived signed links to stored objects (originals, previews, HLS trees).

A link is ``<base>/api/objects/<token>/<path>``; the token is a JWT (HS256) naming a
*scope*: one key, or a key prefix ending in ``/``. A prefix scope lets an HLS master
playlist's relative URIs (renditions, segments) resolve under the same signature.
Tampering with the token or the path, or using it after ``exp``, is refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import quote

import jwt

from ..ports import Clock

LINK_AUDIENCE = "mediagate-object"


class LinkError(Exception):
    """Invalid, tampered or expired link (HTTP 403)."""


@dataclass(frozen=True)
class LinkClaims:
    scope: str
    expires: int
    download_name: str | None = None


class LinkSigner:
    def __init__(self, secret: str, clock: Clock) -> None:
        self.secret = secret
        self.clock = clock

    def token(self, scope: str, ttl_seconds: int, download_name: str | None = None) -> str:
        # Rounded up so a link never lives shorter than its TTL.
        expires = math.ceil(self.clock.now() + ttl_seconds)
        claims: dict[str, object] = {"s": scope, "exp": expires, "aud": LINK_AUDIENCE}
        if download_name:
            claims["n"] = download_name
        return jwt.encode(claims, self.secret, algorithm="HS256")

    def url(self, base: str, scope: str, path: str, ttl_seconds: int, download_name: str | None = None) -> str:
        """The link for ``scope`` + ``path`` (path is relative for prefix scopes, a name for keys)."""
        return f"{base}/api/objects/{self.token(scope, ttl_seconds, download_name)}/{quote(path)}"

    def resolve(self, token: str, path: str) -> tuple[str, LinkClaims]:
        """Return the object key a link points at, or raise LinkError."""
        try:
            claims = jwt.decode(
                token,
                self.secret,
                algorithms=["HS256"],
                audience=LINK_AUDIENCE,
                options={"require": ["exp", "s"], "verify_exp": False},
            )
        except jwt.PyJWTError as exc:
            raise LinkError("invalid link signature") from exc
        if int(claims["exp"]) < self.clock.now():
            raise LinkError("link expired")
        scope = str(claims["s"])
        info = LinkClaims(scope, int(claims["exp"]), claims.get("n"))
        if not scope.endswith("/"):
            return scope, info
        parts = path.split("/")
        if not path or any(p in ("", ".", "..") for p in parts):
            raise LinkError("path outside the link's scope")
        return scope + path, info
