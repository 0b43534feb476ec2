"""The Worker on Pyodide: worker/src/entry.py runs on Pyodide (npm ``pyodide``, Python 3.14
like the Workers runtime for wrangler.toml's compatibility date) inside Node, with only
the vendored python_modules (scripts/vendor_worker.sh) and the real workers-runtime-sdk.

tests/pyodide/run.mjs drives it (see its header): import checks over the whole Worker
graph; tus uploads over real HTTP through the streaming ASGI bridge
(``mediagate.adapters.cloudflare.asgi_bridge``) into a JS R2 bucket (multipart through
``FixedLengthStream``) with the Neon adapter's ``js.fetch`` reaching the Neon HTTP fixture
(tests/pyodide/neon_server.py, TEST FIXTURE ONLY) on a real Postgres; the queue consumer
pushing jobs through the ``ProcessorContainer`` Durable Object into the real processor
(started by ``ctx.container.start``), whose webhooks come back to the Worker; failure
paths; the cron handler; the idle alarm; then the bridge itself: request bodies reaching
the app chunk by chunk with flat Python memory, streamed downloads and the batch ZIP with
back-pressure, ``request.cf`` choosing the download region, HEAD/204, app errors and
clients that go away. This test checks what the run reports and what it left in
Postgres and in the object store (the ZIP it received is opened with ``zipfile``).

A thread, a blocking socket or a C extension anywhere in the Worker would fail here, as
it would on Cloudflare; the run also shows that such modules do fail to import.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import uuid
import zipfile
from pathlib import Path

import psycopg
import pytest
from mediagate.auth import issue_token
from support.stack import CONTAINER_SRC, REPO, WORKER_SRC, free_port, shared_tmpdir

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
    port = free_port()
    log = open(tmp_path / "neon.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "tests" / "pyodide" / "neon_server.py"), str(port)],
        cwd=REPO,
        stdout=log,
        stderr=log,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError((tmp_path / "neon.log").read_text())
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}/sql"
    proc.terminate()
    proc.wait(10)
    log.close()


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
    assert env["STORE_BACKEND"] == "r2" and env["PULL_ENABLED"] == "0"
    assert env["R2_ENDPOINT"] == "https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com"
    assert env["R2_BUCKET"] == "mediagate-media" and env["R2_ACCESS_KEY_ID"] == "test-access-key"
    assert env["PROCESSOR_PORT"] == "8080" and env["PROCESSOR_HOST"] == "0.0.0.0"
    assert env["MAX_CONCURRENCY"] == "3" and env["QUEUE_MAX_ATTEMPTS"] == "3"

    # Postgres, written by the Worker (through the Neon protocol) and by the processor.
    with psycopg.connect(database_url, row_factory=psycopg.rows.dict_row) as conn:
        files = {
            r["upload_id"]: r
            for r in conn.execute(
                "SELECT id::text, upload_id, file_type, file_size, processing_status, processing_error FROM files"
            )
        }
        events = conn.execute("SELECT event, file_id::text AS file_id FROM webhook_events").fetchall()
    uploads = report["uploads"]
    assert files[uploads["A"]]["file_size"] == 12 * 1024 * 1024 + 12345
    assert files[uploads["A"]]["processing_status"] == "completed"
    assert files[uploads["B"]]["processing_status"] == "completed" and files[uploads["B"]]["file_type"] == "image"
    assert files[uploads["C"]]["processing_status"] == "failed"
    by_event = {(e["event"], e["file_id"]) for e in events}
    assert ("processing-complete", files[uploads["B"]]["id"]) in by_event
    assert ("processing-failed", files[uploads["C"]]["id"]) in by_event
    derived = Path(data_dir) / "store" / "objects" / "derived" / files[uploads["B"]]["id"]
    assert any(derived.rglob("*.webp")) or any(derived.rglob("*.jpg")), sorted(derived.rglob("*"))

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
