"""Short-lived signed links to stored objects (originals, previews, HLS trees).

The one signing primitive of the Worker's capability URLs: ``LinkSigner.sign`` /
``verify`` (HS256 JWTs with an audience per purpose) also sign the processor's
job-scoped storage grants (:mod:`mediagate.files.grants`).

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

    def expiry(self, ttl_seconds: int) -> int:
        """Rounded up so a token never lives shorter than its TTL."""
        return math.ceil(self.clock.now() + ttl_seconds)

    def sign(self, claims: dict[str, object], audience: str, expires: int) -> str:
        """A token carrying ``claims`` for one purpose (``audience``) until ``expires``."""
        return jwt.encode({**claims, "exp": expires, "aud": audience}, self.secret, algorithm="HS256")

    def verify(self, token: str, audience: str, required: tuple[str, ...]) -> dict[str, object]:
        """The claims of a genuine, unexpired token for ``audience``, or LinkError."""
        try:
            claims = jwt.decode(
                token,
                self.secret,
                algorithms=["HS256"],
                audience=audience,
                options={"require": ["exp", *required], "verify_exp": False},
            )
        except jwt.PyJWTError as exc:
            raise LinkError("invalid link signature") from exc
        if int(claims["exp"]) < self.clock.now():
            raise LinkError("link expired")
        return claims

    def token(self, scope: str, ttl_seconds: int, download_name: str | None = None) -> str:
        claims: dict[str, object] = {"s": scope}
        if download_name:
            claims["n"] = download_name
        return self.sign(claims, LINK_AUDIENCE, self.expiry(ttl_seconds))

    def url(self, base: str, scope: str, path: str, ttl_seconds: int, download_name: str | None = None) -> str:
        """The link for ``scope`` + ``path`` (path is relative for prefix scopes, a name for keys)."""
        return f"{base}/api/objects/{self.token(scope, ttl_seconds, download_name)}/{quote(path)}"

    def resolve(self, token: str, path: str) -> tuple[str, LinkClaims]:
        """Return the object key a link points at, or raise LinkError."""
        claims = self.verify(token, LINK_AUDIENCE, ("s",))
        scope = str(claims["s"])
        name = claims.get("n")
        exp = claims["exp"]
        if not isinstance(exp, int):
            raise LinkError("invalid link expiry")
        info = LinkClaims(scope, exp, None if name is None else str(name))
        if not scope.endswith("/"):
            return scope, info
        parts = path.split("/")
        if not path or any(p in ("", ".", "..") for p in parts):
            raise LinkError("path outside the link's scope")
        return scope + path, info
