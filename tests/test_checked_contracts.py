"""Contracts that a checker keeps honest: the ports against their adapters (mypy), the web
app's API types against the OpenAPI document (openapi-typescript), the dependency lists
against the README."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
from mediagate import ports
from mediagate.adapters.cloudflare.neon_http import NeonHttpDatabase
from mediagate.adapters.cloudflare.queue_producer import CloudflareQueue
from mediagate.adapters.cloudflare.r2_store import R2Body, R2ObjectStore
from mediagate.adapters.local.fs_store import FileBody, LocalObjectStore
from mediagate.adapters.local.pg_queue import PostgresQueue
from mediagate.adapters.local.postgres import PostgresDatabase
from processor import jobsource, storage
from support.stack import REPO
from support.tools import requires

# Each adapter names the ports it implements as bases: mypy then checks every method
# against the port's signature ([override]) and flags an instantiated adapter missing one.
IMPLEMENTS = {
    LocalObjectStore: {ports.ObjectStore, ports.DirectSend, ports.ObjectLister, ports.MultipartLister},
    R2ObjectStore: {ports.ObjectStore, ports.DirectSend, ports.ObjectLister},
    FileBody: {ports.ObjectBody, ports.SendableBody},
    R2Body: {ports.ObjectBody, ports.SendableBody},
    PostgresDatabase: {ports.Database},
    NeonHttpDatabase: {ports.Database},
    PostgresQueue: {ports.JobQueue},
    CloudflareQueue: {ports.JobQueue},
    ports.SystemClock: {ports.Clock},
    storage.LocalProcessorStore: {storage.ProcessorStore},
    storage.S3ProcessorStore: {storage.ProcessorStore},
    storage.WorkerProcessorStore: {storage.ProcessorStore},
    storage.SharedStore: {storage.JobStores},
    storage.GrantStores: {storage.JobStores},
    jobsource.PostgresJobSource: {jobsource.JobSource},
}


@pytest.mark.parametrize("adapter", list(IMPLEMENTS), ids=lambda c: c.__name__)
def test_adapters_name_the_ports_they_implement(adapter):
    assert IMPLEMENTS[adapter] <= set(adapter.__mro__)


def test_mypy_reports_an_adapter_that_drifts_from_its_port(tmp_path):
    """The mechanism the ports rely on, with the repository's mypy configuration: a store
    whose put() lost the port's ``size`` argument is an error."""
    from mypy import api

    (tmp_path / "drifted.py").write_text(
        textwrap.dedent(
            """
            from mediagate.ports import ByteStream, ObjectInfo, ObjectStore

            class Drifted(ObjectStore):
                async def put(self, key: str, data: bytes | ByteStream, *, content_type: str | None = None) -> ObjectInfo:
                    return ObjectInfo(key, 0)
            """
        )
    )
    out, _, status = api.run(
        ["--config-file", str(REPO / "pyproject.toml"), "--no-incremental", str(tmp_path / "drifted.py")]
    )
    assert status == 1
    assert 'Signature of "put" incompatible with supertype "mediagate.ports.ObjectStore"  [override]' in out


def _api_types_check(out: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "API_TYPES_OUT": str(out)}
    return subprocess.run(
        [str(REPO / "scripts" / "api_types.sh"), "--check"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@requires((REPO / "node_modules" / "openapi-typescript").is_dir(), "node_modules/openapi-typescript")
def test_generated_api_types_are_fresh_and_a_stale_copy_fails(tmp_path):
    committed = REPO / "frontend" / "src" / "api-types.gen.ts"
    fresh = tmp_path / "fresh.ts"
    shutil.copy(committed, fresh)
    assert _api_types_check(fresh).returncode == 0, "frontend/src/api-types.gen.ts is stale: run `make api-types`"
    stale = tmp_path / "stale.ts"
    stale.write_text(
        committed.read_text().replace('"processing-complete" | "processing-failed"', '"processing-complete"')
    )
    result = _api_types_check(stale)
    assert result.returncode == 1
    assert "is stale" in result.stderr and "make api-types" in result.stderr


def test_web_types_derive_from_the_generated_file():
    types = (REPO / "frontend" / "src" / "types.ts").read_text()
    assert 'from "./api-types.gen"' in types
    # No hand-written restatement of an API object: only the client's own Filters.
    assert re.findall(r"export interface (\w+)", types) == ["Filters"]


def _names(path: Path) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(re.split(r"[\[<>=!~; ]", line, maxsplit=1)[0].lower())
    return names


def test_readme_says_why_each_dependency_is_there():
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Dependencies", 1)[1].split("\n## ", 1)[0]
    listed = set()
    for req in (
        "requirements-dev.txt",
        "requirements-local.txt",
        "worker/requirements.txt",
        "container/requirements.in",
    ):
        listed |= _names(REPO / req)
    for package_json in (REPO / "package.json", REPO / "frontend" / "package.json"):
        data = json.loads(package_json.read_text())
        listed |= set(data.get("dependencies", {})) | set(data.get("devDependencies", {}))
    missing = sorted(name for name in listed if f"`{name}`" not in section)
    assert missing == [], f"README's Dependencies section does not mention: {missing}"
    for left_out in ("ffmpeg-python", "pyodide-http"):
        assert f"`{left_out}`" in section
