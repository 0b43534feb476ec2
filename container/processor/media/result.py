"""Shared result types returned by every media processor."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class MediaOutput:
    """One file written by a processor."""

    path: str  # relative to the output dir, e.g. "preview/grid.webp"
    content_type: str


@dataclass
class ProcessResult:
    """Everything a processor produced for one upload."""

    outputs: list[MediaOutput]
    metadata: dict = field(default_factory=dict)  # JSON-serialisable
    preview: str | None = None  # relative path of the main preview image (viewer size)
    thumbnail: str | None = None  # relative path of the grid-size image
    hls_master: str | None = None  # relative path of HLS master playlist
    placeholder: str | None = None  # thumbhash/blurhash string


class MediaError(Exception):
    """Bad or unsupported media: the job fails with this readable reason (never retried)."""
