"""S3ProcessorStore (STORE_BACKEND=r2) against a real S3-protocol server: moto's
``moto_server`` as a subprocess on a loopback port, spoken to over HTTP by boto3."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from processor.storage import S3ProcessorStore
from support.stack import free_port

BUCKET = "mediagate-media"
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory) -> Iterator[str]:
    binary = shutil.which("moto_server") or str(Path(sys.executable).with_name("moto_server"))
    port = free_port()
    log_path = tmp_path_factory.mktemp("moto") / "moto.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([binary, "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"moto_server exited: {log_path.read_text()[-2000:]}")
        try:
            httpx.get(url + "/", timeout=1)
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("moto_server did not start") from None
            time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture()
def store(s3_endpoint) -> S3ProcessorStore:
    import boto3

    admin = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id="test-access-key",
        aws_secret_access_key="test-secret-key",
        region_name="us-east-1",  # the bucket's creation is the deploy's job, not the processor's
    )
    if BUCKET not in [b["Name"] for b in admin.list_buckets().get("Buckets", [])]:
        admin.create_bucket(Bucket=BUCKET)
    return S3ProcessorStore(s3_endpoint, BUCKET, "test-access-key", "test-secret-key")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_download_upload_exists_and_delete_prefix(store, tmp_path):
    original = os.urandom(3 * MIB + 11)
    store.client.put_object(Bucket=BUCKET, Key="originals/u1/up1", Body=original)
    target = tmp_path / "original.bin"
    assert asyncio.run(store.download("originals/u1/up1", target)) == len(original)
    assert target.read_bytes() == original

    poster = tmp_path / "poster.jpg"
    poster.write_bytes(b"\xff\xd8jpeg-bytes")
    asyncio.run(store.upload(poster, "derived/f1/poster.jpg", "image/jpeg"))
    head = store.client.head_object(Bucket=BUCKET, Key="derived/f1/poster.jpg")
    assert head["ContentType"] == "image/jpeg" and head["ContentLength"] == poster.stat().st_size
    assert asyncio.run(store.exists("derived/f1/poster.jpg")) is True
    assert asyncio.run(store.exists("derived/f1/nothing.jpg")) is False

    for i in range(3):
        seg = tmp_path / f"seg{i}.m4s"
        seg.write_bytes(os.urandom(1000))
        asyncio.run(store.upload(seg, f"derived/f1/hls/720p/seg_{i:05}.m4s", "video/iso.segment"))
    asyncio.run(store.upload(poster, "derived/f10/poster.jpg", "image/jpeg"))  # a neighbour, same leading chars
    asyncio.run(store.delete_prefix("derived/f1/"))
    left = store.client.list_objects_v2(Bucket=BUCKET, Prefix="derived/").get("Contents", [])
    assert [o["Key"] for o in left] == ["derived/f10/poster.jpg"]
    assert store.client.head_object(Bucket=BUCKET, Key="originals/u1/up1")["ContentLength"] == len(original)


def test_large_outputs_go_up_in_multipart_and_come_back_whole(store, tmp_path):
    big = tmp_path / "big.mp4"
    with open(big, "wb") as fh:
        for _ in range(12):
            fh.write(os.urandom(MIB))
    asyncio.run(store.upload(big, "derived/f2/hls/1080p/big.mp4", "video/mp4"))
    head = store.client.head_object(Bucket=BUCKET, Key="derived/f2/hls/1080p/big.mp4")
    assert head["ContentLength"] == 12 * MIB and head["ContentType"] == "video/mp4"
    assert head["ETag"].strip('"').endswith("-2")  # two 8 MiB-threshold parts: a real multipart upload
    back = tmp_path / "back.mp4"
    assert asyncio.run(store.download("derived/f2/hls/1080p/big.mp4", back)) == 12 * MIB
    assert sha256(back) == sha256(big)


def test_missing_original_is_an_error(store, tmp_path):
    with pytest.raises(FileNotFoundError, match="missing"):
        asyncio.run(store.download("originals/none/missing", tmp_path / "x"))
