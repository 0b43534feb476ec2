"""The wiring: one object holding the adapters a runtime chose, and the core built on them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .albums.repository import AlbumRepository
from .config import Settings
from .enqueue import Enqueuer
from .file_status import FileStatus
from .files.deletion import FileDeleter
from .files.grants import grant_for
from .files.links import LinkSigner
from .files.regions import RegionMap
from .files.repository import FileRepository
from .ingest import Ingest
from .job_repository import JobRepository
from .ports import (
    Clock,
    Database,
    DirectSend,
    FileMessagePurge,
    JobQueue,
    MultipartLister,
    ObjectLister,
    ObjectStore,
    PartFromBody,
    QueueStats,
    SystemClock,
)
from .shares.repository import ShareRepository
from .storage_sweep import StorageSweep
from .tus.engine import TusEngine
from .tus.state import UploadRepository
from .user_webhooks import UserWebhookRepository


@dataclass
class Services:
    settings: Settings
    store: ObjectStore
    db: Database
    queue: JobQueue
    # What the queue can tell (depth, dead letters): every runtime answers from what it has.
    queue_stats: QueueStats
    clock: Clock = field(default_factory=SystemClock)
    # Optional queue ability: drop a deleted file's queued messages (local queue only).
    purge: FileMessagePurge | None = None
    # Optional store abilities (ports.py), handed over by the runtime's wiring when its store
    # has them (tusd-style composition: the core never probes the store for methods).
    direct_send: DirectSend | None = None
    lister: ObjectLister | None = None
    multipart_lister: MultipartLister | None = None
    part_from_body: PartFromBody | None = None

    def __post_init__(self) -> None:
        self.links = LinkSigner(self.settings.signing_secret, self.clock)
        self.uploads = UploadRepository(self.db)
        grants = self.storage_grant if self.settings.job_storage_grants else None
        self.jobs = JobRepository(self.db)
        self.file_status = FileStatus(self.db)
        self.enqueuer = Enqueuer(self.queue, self.jobs, grants)
        self.ingest = Ingest(self.store, self.jobs, self.enqueuer)
        self.files = FileRepository(self.db)
        self.user_webhooks = UserWebhookRepository(self.db)
        self.deleter = FileDeleter(self.files, self.store, self.purge)
        self.albums = AlbumRepository(self.db)
        self.shares = ShareRepository(self.db)
        self.tus = TusEngine(
            self.settings,
            self.store,
            self.uploads,
            self.clock,
            self.ingest,
            self.deleter.delete_upload,
            part_from_body=self.part_from_body,
        )
        self.regions = RegionMap.from_config(self.settings.download_regions, self.settings.default_region)
        self.sweep = StorageSweep(
            self.db,
            self.store,
            self.clock,
            lister=self.lister,
            multipart_lister=self.multipart_lister,
            grace_seconds=self.settings.sweep_grace_seconds,
            batch=self.settings.sweep_batch,
            lock_stale_seconds=self.settings.lock_stale_seconds,
        )

    async def maintenance(self) -> dict[str, int]:
        """The periodic sweep (cron trigger on Cloudflare, a loop locally): expire stale
        uploads, finish interrupted completions, purge files trashed longer than the
        retention, then collect unreferenced objects."""
        result = await self.tus.cleanup()
        result["trash_purged"] = await self.deleter.sweep_trash(
            self.settings.trash_retention_days, self.settings.trash_sweep_batch
        )
        result.update((await self.sweep.run()).as_dict())
        return result

    def storage_grant(self, message: dict[str, Any]) -> dict[str, Any] | None:
        """A job-scoped storage grant for the processor (see mediagate.files.grants)."""
        return grant_for(self.settings, self.links, message)
