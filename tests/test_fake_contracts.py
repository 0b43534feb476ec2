"""Contract tests for the JS stand-ins of tests/pyodide/fakes.mjs (issue #9).

The Pyodide-in-Node run (tests/test_pyodide_worker.py) reaches R2, Durable Objects and
Queues through stand-ins. A stand-in that behaves differently from the runtime hides bugs:
one that answered ``stub._binding`` with ``undefined`` hid that a real Durable Object stub
answers every property name as an RPC property, which dead-lettered every job in
production. Here the scenarios of tests/pyodide/contract.mjs run against the stand-ins in
plain Node and against the real bindings inside a JS Worker in Miniflare (the pinned
workerd; no Python involved), and the two lists of observations must be equal:

* R2: put/get/head/delete/list, ranged reads (empty object, at and past the end, suffixes),
  stream bodies and FixedLengthStream length errors, multipart part-size rules and the error
  texts r2_store.py parses, abort/complete/resume of unknown, finished and foreign uploads;
* Durable Objects: the stub's own properties, RPC properties for every other name and the
  errors calling them gives (``'fetch' is a reserved method``), ``stub.fetch`` with its
  request as the object receives it, ids, storage and alarms, ``ctx.container`` absent;
* Queues: send per content type, size and type errors, ack/retry(delaySeconds), attempts
  counting, a throwing consumer, ``batch.queue``, dead-lettering after ``max_retries``.
"""

from __future__ import annotations

import difflib
import json
import subprocess

import pytest
from support.stack import REPO

RUNNER = REPO / "tests" / "pyodide" / "contract_run.mjs"


@pytest.fixture(scope="module")
def node22() -> str:
    out = subprocess.run([str(REPO / "scripts" / "node22.sh")], capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def results(node22) -> dict[str, dict[str, list]]:
    """Both runs, started together (the real one waits on queue redeliveries)."""
    procs = {
        mode: subprocess.Popen(
            [node22, str(RUNNER), mode], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for mode in ("real", "fake")
    }
    out = {}
    for mode, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=180)
        lines = [line for line in stdout.splitlines() if line.startswith("CONTRACT ")]
        assert proc.returncode == 0 and lines, f"contract_run.mjs {mode} failed:\n{stderr[-4000:]}"
        out[mode] = json.loads(lines[-1][len("CONTRACT ") :])
    return out


SCENARIOS = ["r2Objects", "r2Ranges", "r2Multipart", "r2MultipartErrors", "durableObjects", "queues"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_stand_in_matches_the_runtime(results, scenario):
    real = results["real"][scenario]
    fake = results["fake"][scenario]
    assert not any("crashed" in r for r in real), real
    assert not any("crashed" in r for r in fake), fake
    lines = lambda rs: [json.dumps(r, sort_keys=True) for r in rs]  # noqa: E731
    diff = "\n".join(difflib.unified_diff(lines(real), lines(fake), "workerd (Miniflare)", "fakes.mjs", lineterm=""))
    assert real == fake, f"the stand-in differs from the runtime in {scenario}:\n{diff}"


def test_the_contract_sees_what_the_worker_relies_on(results):
    """Spot checks on the runtime's side, so the contract cannot pass by both sides going vacuous."""
    real = results["real"]
    stub = next(r for r in real["durableObjects"] if r["what"] == "stub shape")["ok"]
    assert stub["binding"] == "function" and stub["bindingTruthy"] and stub["ownKeys"] == ["id", "name"]
    reserved = next(r for r in real["durableObjects"] if r["what"].startswith("stub.gateway.fetch"))
    assert "'fetch' is a reserved method" in reserved["message"]
    errors = {r["what"]: r.get("message", "") for r in real["r2MultipartErrors"]}
    assert "(10011)" in errors["non-final part below 5 MiB"]
    assert "(10024)" in errors["uploadPart after abort"] and "does not exist" in errors["uploadPart after abort"]
    deliveries = [r["ok"] for r in real["queues"] if r["what"] == "delivery"]
    dead = [(d["queue"], d["attempts"]) for d in deliveries if d["case"] == "dead"]
    assert dead == [("contract-dlq", 1), ("contract-jobs", 1), ("contract-jobs", 2), ("contract-jobs", 3)]


def test_r2_store_recognises_the_runtime_errors(results):
    """r2_store.py decides by error text: which ranged reads to clamp, which aborts count as
    done. These are the texts the runtime gives (and the stand-in now gives too)."""
    from mediagate.adapters.cloudflare import r2_store

    refusals = {r["message"] for r in results["real"]["r2Ranges"] if "error" in r}
    # workerd's local R2 refuses a range starting exactly at the end *with* a length (e.g. any
    # ranged read of an empty object) as "Unspecified error (0)", not InvalidRange (10039).
    assert refusals == {"get: The requested range is not satisfiable (10039)", "get: Unspecified error (0)"}
    is_range_error = getattr(r2_store, "_is_range_error", None)
    if is_range_error is not None:  # a refusal the adapter does not recognise is not clamped
        for message in sorted(refusals):
            assert is_range_error(Exception(message)), message
    errors = {
        r["what"]: r.get("message") for r in results["real"]["r2MultipartErrors"] + results["real"]["r2Multipart"]
    }
    for what in ("uploadPart after abort", "complete after abort", "complete twice", "uploadPart to an unknown id"):
        assert r2_store._is_no_such_upload(Exception(errors[what])), (what, errors[what])
    # Aborting an upload that was completed or aborted resolves; aborting an id R2 never
    # issued for that key is an internal error (10001) locally, which the adapter reports.
    assert errors["abort after abort"] is None and errors["abort after complete"] is None
    assert "(10001)" in errors["abort an unknown id"]
