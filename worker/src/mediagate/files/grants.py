"""Job-scoped storage grants: the processor's only way into the bucket.

Instead of account-wide R2 keys in the container, the Worker hands each job a *grant*:
capability URLs signed with the links' primitive (:class:`~.links.LinkSigner`, its own
audience so a download link is never a grant and vice versa) that allow exactly

* ``GET``/``HEAD <read_url>`` — the job's original (``object_key``), Range supported;
* ``PUT <write_url><path>`` — one output ``<output_prefix><path>`` per request, the body
  streamed into the store, ``Content-Length`` required and at most ``max_put_bytes``
  (95 MiB by default, below the Workers request-body limit of 100 MB);
* ``HEAD <write_url><path>`` — does that output exist;
* ``DELETE <write_url>`` — every object under the prefix (a re-run clears old outputs),
  ``DELETE <write_url><path>`` — one of them;

until ``expires``. A leaked grant exposes one job's original and outputs, not the bucket.
The same URLs work against the local server and in workerd, so the processor's storage
path is the same locally and in production.

Minted from the job message (:mod:`mediagate.contracts` owns its shape): on Cloudflare by the
queue consumer on every delivery (fresh expiry), locally by the ingest when
``JOB_STORAGE_GRANTS=1``. Pure Python (PyJWT), Pyodide-safe.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..config import Settings
from ..contracts import output_prefix
from .links import LinkError, LinkSigner

GRANT_AUDIENCE = "mediagate-processor-storage"
ROUTE_PREFIX = "/api/processor-storage"
WORKERS_BODY_LIMIT = 100 * 1000 * 1000  # Cloudflare Workers' request-body limit (Free/Pro)
DEFAULT_MAX_PUT_BYTES = 95 * 1024 * 1024  # headroom below WORKERS_BODY_LIMIT
DEFAULT_GRANT_TTL_SECONDS = 6 * 3600  # longer than the longest job (visibility timeout 30 min, retries)
MAX_KEY_BYTES = 1024  # R2's key length limit


class GrantError(LinkError):
    """A forged, expired or out-of-scope grant request (HTTP 403)."""


@dataclass(frozen=True)
class Grant:
    """The verified claims of a grant token."""

    file_id: str
    object_key: str
    output_prefix: str
    expires: int
    max_put_bytes: int

    def output_key(self, path: str) -> str:
        """The key ``path`` (relative to the prefix, already percent-decoded) names.

        Refuses anything that could leave the prefix or alias another key: empty, ``.``
        or ``..`` segments, absolute paths, backslashes, NUL and control characters, and a
        ``%`` left after decoding (double-encoded tricks)."""
        if not path:
            raise GrantError("an output path is required")
        if path.startswith("/") or any(s in ("", ".", "..") for s in path.split("/")):
            raise GrantError("path outside the grant's output prefix")
        if any(ch in path for ch in "\\%") or any(ord(ch) < 32 or ord(ch) == 127 for ch in path):
            raise GrantError("path contains characters outputs never use")
        key = self.output_prefix + path
        if len(key.encode()) > MAX_KEY_BYTES:
            raise GrantError("output key too long")
        return key


def mint(
    signer: LinkSigner,
    base_url: str,
    message: Mapping[str, Any],
    *,
    ttl_seconds: int = DEFAULT_GRANT_TTL_SECONDS,
    max_put_bytes: int = DEFAULT_MAX_PUT_BYTES,
) -> dict[str, Any]:
    """The grant for one job message: the ``storage`` field of the message contract.

    Raises ValueError for a message whose output prefix is not ``derived/<file_id>/`` (a
    grant never widens what the job message names)."""
    file_id = str(message.get("file_id") or "")
    object_key = str(message.get("object_key") or "")
    prefix = str(message.get("output_prefix") or "")
    if not file_id or not object_key or prefix != output_prefix(file_id) or "/" in file_id:
        raise ValueError("a storage grant needs file_id, object_key and output_prefix derived/<file_id>/")
    if not 0 < max_put_bytes <= WORKERS_BODY_LIMIT:
        raise ValueError(f"max_put_bytes must be in 1..{WORKERS_BODY_LIMIT} (the Workers request-body limit)")
    expires = signer.expiry(ttl_seconds)
    claims: dict[str, object] = {"f": file_id, "o": object_key, "p": prefix, "m": max_put_bytes}
    token = signer.sign(claims, GRANT_AUDIENCE, expires)
    base = f"{base_url.rstrip('/')}{ROUTE_PREFIX}/{token}"
    return {
        "read_url": f"{base}/original",
        "write_url": f"{base}/outputs/",
        "object_key": object_key,
        "output_prefix": prefix,
        "expires": expires,
        "max_put_bytes": max_put_bytes,
    }


def verify(signer: LinkSigner, token: str) -> Grant:
    """The grant a token carries, or GrantError (forged, expired, or not a grant)."""
    try:
        claims = signer.verify(token, GRANT_AUDIENCE, ("f", "o", "p", "m"))
    except LinkError as exc:
        raise GrantError(str(exc).replace("link", "grant")) from exc
    file_id, prefix = str(claims["f"]), str(claims["p"])
    if prefix != output_prefix(file_id):  # signed by us, but never trust shape blindly
        raise GrantError("invalid grant scope")
    return Grant(
        file_id=file_id,
        object_key=str(claims["o"]),
        output_prefix=prefix,
        expires=int(str(claims["exp"])),
        max_put_bytes=min(int(str(claims["m"])), WORKERS_BODY_LIMIT),
    )


def grant_for(settings: Settings, signer: LinkSigner, message: Mapping[str, Any]) -> dict[str, Any] | None:
    """The grant for ``message`` under ``settings``; None without ``WORKER_URL`` (the
    processor could not reach the URLs) or for a message that names no valid job."""
    if not settings.worker_url:
        return None
    try:
        return mint(
            signer,
            settings.worker_url,
            message,
            ttl_seconds=settings.grant_ttl_seconds,
            max_put_bytes=settings.grant_max_put_bytes,
        )
    except ValueError:
        return None
