"""The wiring: one object holding the adapters a runtime chose, and the core built on them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .config import Settings
from .files.deletion import FileDeleter
from .files.grants import grant_for
from .files.links import LinkSigner
from .files.regions import RegionMap
from .files.repository import FileRepository
from .ingest import Ingest
from .ports import Clock, Database, DirectSend, JobQueue, ObjectStore, SystemClock
from .tus.engine import TusEngine
from .tus.state import UploadRepository


@dataclass
class Services:
    settings: Settings
    store: ObjectStore
    db: Database
    queue: JobQueue
    clock: Clock = field(default_factory=SystemClock)
    # Optional store abilities (ports.py), given explicitly by the runtime's wiring.
    direct_send: DirectSend | None = None

    def __post_init__(self) -> None:
        self.links = LinkSigner(self.settings.signing_secret, self.clock)
        self.uploads = UploadRepository(self.db)
        grants = self.storage_grant if self.settings.job_storage_grants else None
        self.ingest = Ingest(self.db, self.store, self.queue, grants)
        self.files = FileRepository(self.db)
        self.deleter = FileDeleter(self.files, self.store)
        self.tus = TusEngine(
            self.settings, self.store, self.uploads, self.clock, self.ingest, self.deleter.delete_upload
        )
        self.regions = RegionMap.from_config(self.settings.download_regions, self.settings.default_region)

    def storage_grant(self, message: dict[str, Any]) -> dict[str, Any] | None:
        """A job-scoped storage grant for the processor (see mediagate.files.grants)."""
        return grant_for(self.settings, self.links, message)
