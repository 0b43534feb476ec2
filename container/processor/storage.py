"""Where the processor reads originals and writes outputs.

Locally the same filesystem store the Worker writes to; in production R2 through its S3
API with boto3 (R2's binding exists only inside Workers). Both speak ``ProcessorStore``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Protocol

from mediagate.adapters.local.fs_store import LocalObjectStore


class ProcessorStore(Protocol):
    async def download(self, key: str, path: Path) -> int: ...

    async def upload(self, path: Path, key: str, content_type: str) -> None: ...

    async def delete_prefix(self, prefix: str) -> None: ...

    async def exists(self, key: str) -> bool: ...


async def _file_chunks(path: Path, size: int = 1 << 20):
    with open(path, "rb") as fh:
        while chunk := fh.read(size):
            yield chunk


class LocalProcessorStore:
    def __init__(self, store: LocalObjectStore) -> None:
        self.store = store

    async def download(self, key: str, path: Path) -> int:
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


class S3ProcessorStore:
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
        await asyncio.to_thread(self.client.download_file, self.bucket, key, str(path))
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
