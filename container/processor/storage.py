"""Where the processor reads originals and writes outputs.

Three backends speak ``ProcessorStore`` (``STORE_BACKEND``):

* ``worker`` (production default): through the Worker with the job's storage grant
  (:mod:`mediagate.files.grants`): no bucket keys in the container, a leaked grant
  exposes one job. The same path works against the local server and in workerd.
* ``local`` (``make dev``): the filesystem store the local server writes to.
* ``r2``: R2 (or any S3-protocol server) through its S3 API with boto3 and account keys.

``JobStores.for_job`` gives the store for one job message: the shared one, or one built
from the grant the message carries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import httpx
from mediagate.adapters.local.fs_store import LocalObjectStore

from .media.result import MediaError

log = logging.getLogger("processor.storage")


class ProcessorStore(Protocol):
    async def download(self, key: str, path: Path) -> int: ...

    async def upload(self, path: Path, key: str, content_type: str) -> None: ...

    async def delete_prefix(self, prefix: str) -> None: ...

    async def exists(self, key: str) -> bool: ...


class JobStores(Protocol):
    def for_job(self, message: Mapping[str, Any]) -> ProcessorStore: ...

    async def close(self) -> None: ...


class SharedStore(JobStores):
    """One store for every job (``local`` and ``r2``): the message's grant, if any, is unused."""

    def __init__(self, store: ProcessorStore) -> None:
        self.store = store

    def for_job(self, message: Mapping[str, Any]) -> ProcessorStore:
        return self.store

    async def close(self) -> None:
        return None


async def _file_chunks(path: Path, size: int = 1 << 20) -> AsyncIterator[bytes]:
    with open(path, "rb") as fh:
        while chunk := fh.read(size):
            yield chunk


class LocalProcessorStore(ProcessorStore):
    def __init__(self, store: LocalObjectStore) -> None:
        self.store = store

    async def download(self, key: str, path: Path) -> int:
        # a hard link where the store and the job's scratch share a filesystem: no copy, so a
        # large video starts encoding at once (originals are never rewritten once stored)
        with contextlib.suppress(OSError):
            os.link(self.store.path_for(key), path)
            return path.stat().st_size
        body = await self.store.get(key)
        if body is None:
            raise FileNotFoundError(f"original {key} is missing from the store")
        written = 0
        with open(path, "wb") as fh:
            async for chunk in body:
                fh.write(chunk)
                written += len(chunk)
        return written

    async def upload(self, path: Path, key: str, content_type: str) -> None:
        await self.store.put(key, _file_chunks(path), content_type=content_type)

    async def delete_prefix(self, prefix: str) -> None:
        await self.store.delete(await self.store.list_keys(prefix))

    async def exists(self, key: str) -> bool:
        return await self.store.head(key) is not None


class S3ProcessorStore(ProcessorStore):
    """R2 over its S3-compatible API (boto3, run in threads; multipart handled by boto3)."""

    def __init__(self, endpoint: str, bucket: str, access_key: str, secret_key: str) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            region_name="auto",
            config=Config(retries={"max_attempts": 5, "mode": "standard"}),
        )

    async def download(self, key: str, path: Path) -> int:
        from botocore.exceptions import ClientError

        try:
            await asyncio.to_thread(self.client.download_file, self.bucket, key, str(path))
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in ("404", "NoSuchKey"):
                raise FileNotFoundError(f"original {key} is missing from the store") from exc
            raise
        return path.stat().st_size

    async def upload(self, path: Path, key: str, content_type: str) -> None:
        await asyncio.to_thread(
            self.client.upload_file, str(path), self.bucket, key, ExtraArgs={"ContentType": content_type}
        )

    async def delete_prefix(self, prefix: str) -> None:
        def run() -> None:
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
            for page in pages:
                keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                if keys:
                    self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})

        await asyncio.to_thread(run)

    async def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            await asyncio.to_thread(self.client.head_object, Bucket=self.bucket, Key=key)
        except ClientError:
            return False
        return True


# -- through the Worker, with the job's grant ---------------------------------------------------


class MissingGrant(Exception):
    """STORE_BACKEND=worker, but the job message carries no storage grant (retried: the
    Worker's queue consumer attaches a fresh grant to every delivery)."""


class OutputTooLarge(MediaError):
    """An output exceeds the grant's per-request limit: the job fails with this reason.

    Outputs are never split: HLS segments are 6 s at a capped bit rate (≈ 5 MB at 1080p),
    previews and sprites a few MB, all far below the 95 MiB limit; an output past it means
    something is wrong, and re-running would produce it again."""


class GrantRefused(Exception):
    """The Worker refused a request made with the grant (expired, or out of scope)."""


RETRIES = 3
RETRY_STATUSES = {408, 425, 429, 500, 502, 503, 504}


def _reason(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error") or response.text)[:300]
    except (ValueError, AttributeError):
        return response.text[:300]


class WorkerProcessorStore(ProcessorStore):
    """One job's store: the grant's URLs, streamed both ways with httpx.

    Downloads stream to a file and resume with ``Range`` after a dropped connection;
    uploads stream from the file, one PUT per output with its exact ``Content-Length``
    (refused locally past ``max_put_bytes``); transient failures (connection errors, 5xx,
    429) are retried a few times. Keys outside the grant raise PermissionError before any
    request is made."""

    def __init__(self, grant: Mapping[str, Any], client: httpx.AsyncClient, *, backoff: float = 0.5) -> None:
        try:
            self.read_url = str(grant["read_url"])
            self.write_url = str(grant["write_url"])
            self.object_key = str(grant["object_key"])
            self.output_prefix = str(grant["output_prefix"])
            self.max_put_bytes = int(grant["max_put_bytes"])
        except (KeyError, TypeError, ValueError) as exc:
            raise MissingGrant(f"the job's storage grant is malformed: {exc!r}") from exc
        self.client = client
        self.backoff = backoff

    def _relative(self, key: str) -> str:
        if not key.startswith(self.output_prefix) or key == self.output_prefix:
            raise PermissionError(f"{key} is outside this job's output prefix {self.output_prefix}")
        return key[len(self.output_prefix) :]

    async def _retrying(self, what: str, attempt: Any) -> httpx.Response:
        """Run ``attempt()`` (a fresh request each time) until it is not transient."""
        for n in range(1, RETRIES + 1):
            try:
                response = await attempt()
            except httpx.TransportError:
                if n == RETRIES:
                    raise
                log.warning("%s: connection failed, retrying", what)
            else:
                if response.status_code not in RETRY_STATUSES or n == RETRIES:
                    return response
                log.warning("%s: HTTP %s, retrying", what, response.status_code)
            await asyncio.sleep(self.backoff * 2 ** (n - 1))
        raise AssertionError("unreachable")

    def _refusal(self, what: str, response: httpx.Response) -> Exception:
        if response.status_code == 403:
            return GrantRefused(f"{what}: the Worker refused the grant: {_reason(response)}")
        return RuntimeError(f"{what}: HTTP {response.status_code}: {_reason(response)}")

    async def download(self, key: str, path: Path) -> int:
        if key != self.object_key:
            raise PermissionError(f"{key} is not this job's original")
        written = 0
        with open(path, "wb") as fh:
            for n in range(1, RETRIES + 1):
                headers = {"Range": f"bytes={written}-"} if written else {}
                try:
                    async with self.client.stream("GET", self.read_url, headers=headers) as r:
                        if r.status_code == 404:
                            raise FileNotFoundError(f"original {key} is missing from the store")
                        if r.status_code == 416 and written:
                            return written  # the drop came right at the end
                        if r.status_code not in (200, 206) or (written and r.status_code != 206):
                            await r.aread()
                            raise self._refusal(f"reading {key}", r)
                        async for chunk in r.aiter_bytes(1 << 20):
                            fh.write(chunk)
                            written += len(chunk)
                    return written
                except httpx.TransportError:
                    if n == RETRIES:
                        raise
                    log.warning("reading %s dropped at %d bytes; resuming", key, written)
                    await asyncio.sleep(self.backoff * 2 ** (n - 1))
        return written

    async def upload(self, path: Path, key: str, content_type: str) -> None:
        url = self.write_url + quote(self._relative(key))
        size = path.stat().st_size
        if size > self.max_put_bytes:
            raise OutputTooLarge(
                f"output {key} is {size} bytes, over the {self.max_put_bytes}-byte limit of one storage request"
            )
        headers = {"Content-Type": content_type, "Content-Length": str(size)}

        async def attempt() -> httpx.Response:
            return await self.client.put(url, content=_file_chunks(path), headers=headers)

        response = await self._retrying(f"writing {key}", attempt)
        if response.status_code != 201:
            raise self._refusal(f"writing {key}", response)

    async def delete_prefix(self, prefix: str) -> None:
        if prefix != self.output_prefix:
            raise PermissionError(f"{prefix} is not this job's output prefix {self.output_prefix}")

        async def attempt() -> httpx.Response:
            return await self.client.delete(self.write_url)

        response = await self._retrying(f"deleting {prefix}", attempt)
        if response.status_code != 200:
            raise self._refusal(f"deleting {prefix}", response)

    async def exists(self, key: str) -> bool:
        url = self.write_url + quote(self._relative(key))

        async def attempt() -> httpx.Response:
            return await self.client.head(url)

        response = await self._retrying(f"checking {key}", attempt)
        if response.status_code in (200, 404):
            return response.status_code == 200
        raise self._refusal(f"checking {key}", response)


class GrantStores(JobStores):
    """``STORE_BACKEND=worker``: each job's store is built from the grant in its message."""

    def __init__(self, client: httpx.AsyncClient | None = None) -> None:
        self.client = client or httpx.AsyncClient(timeout=httpx.Timeout(120, connect=15))

    def for_job(self, message: Mapping[str, Any]) -> ProcessorStore:
        grant = message.get("storage")
        if not isinstance(grant, Mapping):
            raise MissingGrant(
                "the job message carries no storage grant (STORE_BACKEND=worker: the Worker attaches one; "
                "locally set JOB_STORAGE_GRANTS=1 and WORKER_URL on the server)"
            )
        return WorkerProcessorStore(grant, self.client)

    async def close(self) -> None:
        await self.client.aclose()
