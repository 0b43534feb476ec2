"""Deleting files: the one place that knows everything a file owns.

A file owns its ``files`` row (jobs, album memberships and shares cascade), its pending
queue messages (where the queue can drop them: ``FileMessagePurge``; elsewhere they are
dropped at delivery), its original and every derived object under ``derived/<file_id>/``.
Permanent deletes (``DELETE /api/files/{id}?permanent=true``, bulk purge, emptying the
trash, the cron trash sweep) and tus termination of a completed upload all delete through
here, so none can forget a piece.
"""

from __future__ import annotations

from ..contracts import output_prefix
from ..ports import FileMessagePurge, ObjectStore
from .repository import FileRepository

DELETE_BATCH = 1000  # R2/S3 DeleteObjects takes at most 1000 keys
EMPTY_BATCH = 500  # files purged per round when the trash is emptied


class FileDeleter:
    def __init__(self, files: FileRepository, store: ObjectStore, purge: FileMessagePurge | None = None) -> None:
        self.files = files
        self.store = store
        self.purge = purge  # None where the queue cannot drop sent messages (Cloudflare)

    async def delete(self, user_id: str, file_ids: list[str], *, extra_keys: list[str] | None = None) -> list[str]:
        """Remove the user's files and everything they own; returns the ids deleted.

        ``extra_keys`` are objects to delete as well (tus termination passes the upload's
        original, which exists even when the files row was never written)."""
        rows = await self.files.delete(user_id, file_ids) if file_ids else []
        if rows and self.purge is not None:
            await self.purge.purge_files([r["id"] for r in rows])
        keys: list[str] = list(extra_keys or [])
        for row in rows:
            keys.append(row["original_key"])
            keys.extend(await self.store.list_keys(output_prefix(row["id"])))
        keys = sorted(set(keys))
        for start in range(0, len(keys), DELETE_BATCH):
            await self.store.delete(keys[start : start + DELETE_BATCH])
        return [r["id"] for r in rows]

    async def delete_upload(self, user_id: str, upload_id: str, original_key: str) -> list[str]:
        """Delete whatever file a completed tus upload became (found by upload id, so a
        file whose id was never written back to the upload goes too) and its original."""
        return await self.delete(
            user_id, await self.files.ids_for_upload(user_id, upload_id), extra_keys=[original_key]
        )

    async def empty_trash(self, user_id: str) -> int:
        """Purge every trashed file of the user; returns how many."""
        purged = 0
        while ids := await self.files.trashed_ids(user_id, EMPTY_BATCH):
            done = await self.delete(user_id, ids)
            purged += len(done)
            if not done:
                break  # deleted meanwhile by another request
        return purged

    async def sweep_trash(self, retention_days: int, limit: int) -> int:
        """Purge up to ``limit`` files trashed more than ``retention_days`` ago (the cron job)."""
        if limit <= 0:
            return 0
        by_user: dict[str, list[str]] = {}
        for user_id, file_id in await self.files.expired_trash(retention_days * 86400, limit):
            by_user.setdefault(user_id, []).append(file_id)
        purged = 0
        for user_id, ids in by_user.items():
            purged += len(await self.delete(user_id, ids))
        return purged
