"""The wiring: one object holding the adapters a runtime chose, and the core built on them."""

from __future__ import annotations

from dataclasses import dataclass, field

from .config import Settings
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
        self.uploads = UploadRepository(self.db)
        self.ingest = Ingest(self.db, self.store, self.queue)
        self.tus = TusEngine(self.settings, self.store, self.uploads, self.clock, self.ingest)
        self.files = FileRepository(self.db)
        self.links = LinkSigner(self.settings.signing_secret, self.clock)
        self.regions = RegionMap.from_config(self.settings.download_regions, self.settings.default_region)
