"""The Worker on Pyodide, for what the real runtime (tests/workerd) cannot check.

worker/src/entry.py runs on Pyodide (npm ``pyodide``, Python 3.14 like the Workers runtime
for wrangler.toml's compatibility date) inside Node, with only the vendored python_modules
(scripts/vendor_worker.sh) and the real workers-runtime-sdk, against the JS stand-ins of
tests/pyodide/fakes.mjs. Those stand-ins are held to the runtime's behaviour by the contract
tests (tests/test_fake_contracts.py: the same scenarios against Miniflare's real R2,
Durable Object and Queues bindings). The tus protocol into R2 + Neon, the files API, cron,
signed webhooks, the queue consumer -> Durable Object stub -> processor path and the
dead-letter queue run in workerd itself (tests/workerd) and are not repeated here. What
stays, and why workerd cannot check it:

* Import checks (tests/pyodide/checks.py): every Worker module imports from python_modules
  alone, and modules that start a thread, do blocking socket I/O or are C extensions fail.
  workerd only loads the modules entry.py reaches, and its loader and its failures for such
  modules are not observable from a test; here the whole graph is imported and the failures
  are shown to happen.
* The streaming ASGI bridge (section 6 of run.mjs): Python memory measured with
  ``tracemalloc`` inside Pyodide (flat during a 40 MiB PATCH, a 40 MiB download and the
  batch ZIP), request bodies pulled chunk by chunk as the app asks, back-pressure counted
  in messages, ``request.cf`` set on a Request (workerd sets it itself), and app errors and
  clients that go away seen from inside the app. workerd offers no hook into the isolate's
  Python heap nor a way to make a request body out of counted pieces.
* ``ctx.container`` (sections 3-5): the ``ProcessorContainer`` Durable Object starting the
  real processor (``start`` with its production env, ``/healthz`` through
  ``getTcpPort(8080).fetch``, forwarding ``POST /jobs``), the 503s for a container that
  exits on start and for a missing secret, and the idle alarm that destroys it. Miniflare
  runs Containers only with Docker (absent here), so in workerd the object has no
  ``ctx.container`` and forwards to ``LOCAL_PROCESSOR_URL`` instead; the Container stand-in
  follows workerd's ``Container`` API (src/workerd/api/container.h).

A thread, a blocking socket or a C extension anywhere in the Worker would fail here, as
it would on Cloudflare.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import uuid
import zipfile
from pathlib import Path

import psycopg
import pytest
from mediagate.auth import issue_token
from support.stack import CONTAINER_SRC, REPO, WORKER_SRC, neon_http_endpoint, shared_tmpdir

SECRET = "pyodide-worker-test-secret-0123456789abcdef"
WEBHOOK_SECRET = "pyodide-worker-webhook-secret-0123456789abcdef"
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def node22() -> str:
    out = subprocess.run([str(REPO / "scripts" / "node22.sh")], capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def vendored() -> Path:
    subprocess.run([str(REPO / "scripts" / "vendor_worker.sh")], check=True)
    return REPO / "python_modules"


@pytest.fixture()
def neon_endpoint(tmp_path):
    with neon_http_endpoint(tmp_path / "neon.log") as url:
        yield url


def _jpeg(path: Path) -> None:
    from PIL import Image

    img = Image.new("RGB", (96, 64))
    img.putdata([(x * 2, y * 3, (x + y) % 256) for y in range(64) for x in range(96)])
    img.save(path, "JPEG", quality=90)


def _extra_modules(root: Path) -> list[str]:
    """Modules that must not load in the Worker: one starts a thread at import, one does
    blocking socket I/O, one is a CPython C extension, one is the Worker core's own psycopg
    adapter (local runtime only)."""
    root.mkdir()
    (root / "starts_a_thread.py").write_text("import threading\nthreading.Thread(target=print).start()\n")
    (root / "blocking_io.py").write_text(
        "import socket\nsocket.create_connection(('127.0.0.1', 9), timeout=1).recv(1)\n"
    )
    import PIL

    so = next(Path(PIL.__file__).parent.glob("_imaging.cpython-*.so"))
    shutil.copy(so, root / so.name.replace("_imaging", "c_extension"))
    return ["starts_a_thread", "blocking_io", "c_extension", "mediagate.adapters.local.postgres"]


def test_worker_runs_on_pyodide(postgres, neon_endpoint, node22, vendored, tmp_path):
    database_url = postgres.create_database()
    data_dir = shared_tmpdir("mediagate-pyodide-")
    _jpeg(tmp_path / "photo.jpg")
    user_id = str(uuid.uuid4())
    config = {
        "repo": str(REPO),
        "databaseUrl": database_url,
        "neonEndpoint": neon_endpoint,
        "jwtSecret": SECRET,
        "webhookSecret": WEBHOOK_SECRET,
        "userId": user_id,
        "token": issue_token(SECRET, user_id),
        "dataDir": str(data_dir),
        "python": sys.executable,
        "processorPythonPath": f"{WORKER_SRC}:{CONTAINER_SRC}",
        "jpegPath": str(tmp_path / "photo.jpg"),
        "extraPath": str(tmp_path / "extra"),
        "mustFail": _extra_modules(tmp_path / "extra"),
        "timeoutSeconds": 150,
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    started = time.monotonic()
    proc = subprocess.run(
        [node22, str(REPO / "tests" / "pyodide" / "run.mjs"), str(tmp_path / "config.json")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )
    (tmp_path / "run.stderr").write_text(proc.stderr)  # the whole log, for a failed run
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    report = json.loads(lines[-1][len("RESULT ") :]) if lines else {}
    logs = "".join(p.read_text(errors="replace")[-3000:] for p in Path(data_dir).glob("container-*.log"))
    assert proc.returncode == 0, (
        f"{report.get('error')}\n--- run.mjs stderr ({tmp_path / 'run.stderr'}) ---\n{proc.stderr[-6000:]}\n--- {logs}"
    )
    elapsed = time.monotonic() - started

    graph = report["importGraph"]
    assert graph["platform"] == "emscripten" and graph["python"].startswith("3.14")
    assert graph["failed"] == {} and graph["leaked"] == []
    assert {"mediagate.api.app", "mediagate.tus.engine", "mediagate.adapters.cloudflare.container_dispatch"} <= set(
        graph["imported"]
    )
    must_fail = report["mustFail"]
    assert "can't start new thread" in must_fail["starts_a_thread"]
    assert must_fail["blocking_io"] is not None, must_fail
    assert must_fail["c_extension"].startswith("ModuleNotFoundError")
    assert "psycopg" in must_fail["mediagate.adapters.local.postgres"]
    assert report["runtime"] == {"threads": 1, "local_modules_loaded": []}

    # What ProcessorContainer passed to ctx.container.start: the processor's production config.
    start = report["containerStart"]
    env = start["env"]
    assert start["enableInternet"] is True
    assert env["DATABASE_URL"] == database_url and env["WEBHOOK_SECRET"] == WEBHOOK_SECRET
    assert env["STORE_BACKEND"] == "worker" and env["PULL_ENABLED"] == "0"
    assert not [k for k in env if k.startswith("R2_")]  # no bucket keys: per-job storage grants
    assert env["PROCESSOR_PORT"] == "8080" and env["PROCESSOR_HOST"] == "0.0.0.0"
    assert env["MAX_CONCURRENCY"] == "3" and env["QUEUE_MAX_ATTEMPTS"] == "3"

    # The stub as Python sees it: probing it with getattr finds an RPC property (issue #9).
    probe = report["stubProbe"]
    assert probe["binding_is_nullish"] is False and probe["binding_callable"] is True, probe
    assert "The RPC receiver does not implement" in probe["fetch_error"], probe

    # The jobs the Durable Object forwarded through the container reached the real processor.
    with psycopg.connect(database_url, row_factory=psycopg.rows.dict_row) as conn:
        files = {r["upload_id"]: r for r in conn.execute("SELECT upload_id, processing_status FROM files")}
    uploads = report["uploads"]
    assert files[uploads["A"]]["processing_status"] == "completed"
    assert files[uploads["B"]]["processing_status"] == "completed"

    # The streaming ASGI bridge (section 6): what run.mjs measured, and the ZIP it received.
    streaming = report["streaming"]
    assert streaming["patch40"]["messages"] == 160 and streaming["patch40"]["pulledAtFirst"] <= 3
    assert streaming["patch40"]["peakBytes"] < 40 * MIB / 3
    assert streaming["download40"]["chunks"] >= 100 and streaming["download40"]["jsStream"] is True
    zip_report = streaming["zip"]
    originals = Path(data_dir) / "store" / "objects" / "originals" / user_id
    with zipfile.ZipFile(zip_report["path"]) as archive:
        assert archive.testzip() is None  # every member's CRC-32 checks out
        assert sorted(archive.namelist()) == sorted(zip_report["members"])
        for name, upload_id in zip_report["members"].items():
            assert archive.read(name) == (originals / upload_id).read_bytes(), name
    assert Path(zip_report["path"]).stat().st_size == zip_report["bytes"]
    assert elapsed < 120, f"the Pyodide run took {elapsed:.0f}s"
    shutil.rmtree(data_dir, ignore_errors=True)
