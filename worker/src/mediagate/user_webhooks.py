"""The user_webhooks table: the URLs users registered for their processing events."""

from __future__ import annotations

from .ports import Database, Row


class UserWebhookRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, user_id: str, url: str, secret: str) -> str:
        """Register ``url`` for ``user_id``; returns the new webhook's id."""
        rows = await self.db.fetch(
            "INSERT INTO user_webhooks (user_id, url, secret) VALUES ($1::uuid, $2, $3) RETURNING id::text AS id",
            user_id,
            url,
            secret,
        )
        return str(rows[0]["id"])

    async def list(self, user_id: str) -> list[Row]:
        """The user's webhooks (``id``, ``url``), oldest first; secrets are not listed."""
        return await self.db.fetch(
            "SELECT id::text AS id, url FROM user_webhooks WHERE user_id = $1::uuid ORDER BY created_at", user_id
        )

    async def delete(self, user_id: str, hook_id: str) -> bool:
        """False when the user has no such webhook."""
        n = await self.db.execute(
            "DELETE FROM user_webhooks WHERE id::text = $1 AND user_id = $2::uuid", hook_id, user_id
        )
        return n > 0
