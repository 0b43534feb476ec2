"""Bearer tokens: JWT HS256 with the user id in ``sub`` and an optional ``role``."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import jwt


class AuthError(Exception):
    """Missing, malformed, expired or badly signed token (HTTP 401)."""


@dataclass(frozen=True)
class Principal:
    user_id: str
    role: str = "user"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def issue_token(secret: str, user_id: str, *, role: str = "user", ttl_seconds: int = 30 * 24 * 3600) -> str:
    """Sign a token for ``user_id`` (a UUID)."""
    uid = str(uuid.UUID(user_id))
    now = int(time.time())
    return jwt.encode({"sub": uid, "role": role, "iat": now, "exp": now + ttl_seconds}, secret, algorithm="HS256")


def verify_token(secret: str, token: str) -> Principal:
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["sub", "exp"]})
    except jwt.ExpiredSignatureError as exc:
        raise AuthError("token expired") from exc
    except jwt.PyJWTError as exc:
        raise AuthError(f"invalid token: {exc}") from exc
    try:
        uid = str(uuid.UUID(str(claims["sub"])))
    except ValueError as exc:
        raise AuthError("token subject is not a user id (UUID)") from exc
    return Principal(user_id=uid, role=str(claims.get("role") or "user"))


def principal_from_header(secret: str, authorization: str | None) -> Principal:
    if not authorization:
        raise AuthError("missing Authorization: Bearer token")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("Authorization must be 'Bearer <token>'")
    return verify_token(secret, token.strip())
