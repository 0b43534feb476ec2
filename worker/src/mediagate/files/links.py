"""Short-lived signed links to stored objects (originals, previews, HLS trees).

The one signing primitive of the Worker's capability URLs: ``LinkSigner.sign`` /
``verify`` (HS256 JWTs with an audience per purpose) also sign the processor's
job-scoped storage grants (:mod:`mediagate.files.grants`).

A link is ``<base>/api/objects/<token>/<path>``; the token is a JWT (HS256) naming a
*scope*: one key, or a key prefix ending in ``/``. A prefix scope lets an HLS master
playlist's relative URIs (renditions, segments) resolve under the same signature.
Tampering with the token or the path, or using it after ``exp``, is refused.

A link handed out through a share link also names the share and the file (``sh``/``f``
claims): the object route then asks the database at serve time whether that share is still
live and still covers the file, so revoking a share (or trashing its file) stops HLS
segments, previews and downloads handed out earlier at once.
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
    share_id: str | None = None  # bound to a share: live only while the share covers file_id
    file_id: str | None = None


@dataclass(frozen=True)
class ShareBinding:
    """The share (and the file within it) a link was handed out through."""

    share_id: str
    file_id: str


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

    def token(
        self, scope: str, ttl_seconds: int, download_name: str | None = None, share: ShareBinding | None = None
    ) -> str:
        claims: dict[str, object] = {"s": scope}
        if download_name:
            claims["n"] = download_name
        if share is not None:
            claims["sh"], claims["f"] = share.share_id, share.file_id
        return self.sign(claims, LINK_AUDIENCE, self.expiry(ttl_seconds))

    def url(
        self,
        base: str,
        scope: str,
        path: str,
        ttl_seconds: int,
        download_name: str | None = None,
        share: ShareBinding | None = None,
    ) -> str:
        """The link for ``scope`` + ``path`` (path is relative for prefix scopes, a name for keys)."""
        return f"{base}/api/objects/{self.token(scope, ttl_seconds, download_name, share)}/{quote(path)}"

    def resolve(self, token: str, path: str) -> tuple[str, LinkClaims]:
        """Return the object key a link points at, or raise LinkError."""
        claims = self.verify(token, LINK_AUDIENCE, ("s",))
        scope = str(claims["s"])
        name, share_id, file_id = claims.get("n"), claims.get("sh"), claims.get("f")
        info = LinkClaims(
            scope,
            int(str(claims["exp"])),
            None if name is None else str(name),
            None if share_id is None else str(share_id),
            None if file_id is None else str(file_id),
        )
        if not scope.endswith("/"):
            return scope, info
        parts = path.split("/")
        if not path or any(p in ("", ".", "..") for p in parts):
            raise LinkError("path outside the link's scope")
        return scope + path, info
