"""The wiring: one object holding the adapters a runtime chose, and the core built on them."""

from __future__ import annotations

from dataclasses import dataclass, field

from .config import Settings
from .files.deletion import FileDeleter
from .files.links import LinkSigner
from .files.regions import RegionMap
from .files.repository import FileRepository
from .ingest import Ingest
from .ports import Clock, Database, JobQueue, ObjectStore, SystemClock
from .tus.engine import TusEngine
from .tus.state import UploadRepository


@dataclass
class Services:
    settings: Settings
    store: ObjectStore
    db: Database
    queue: JobQueue
    clock: Clock = field(default_factory=SystemClock)

    def __post_init__(self) -> None:
        self.uploads = UploadRepository(self.db)
        self.ingest = Ingest(self.db, self.store, self.queue)
        self.files = FileRepository(self.db)
        self.deleter = FileDeleter(self.files, self.store)
        self.tus = TusEngine(
            self.settings, self.store, self.uploads, self.clock, self.ingest, self.deleter.delete_upload
        )
        self.links = LinkSigner(self.settings.signing_secret, self.clock)
        self.regions = RegionMap.from_config(self.settings.download_regions, self.settings.default_region)
