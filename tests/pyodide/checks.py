"""Import checks run inside Pyodide by tests/pyodide/run.mjs.

``import_worker_graph`` imports every module of the Worker (worker/src/mediagate except
the CPython-only local runtime) and entry.py's imports, on Pyodide, with only the vendored
python_modules available: a C extension, a missing dependency or an import-time thread
fails here. ``must_fail`` imports modules that should not load in the Worker and reports
how each failed, which shows the check would catch them. ``Probe`` (below) records what
crosses the streaming ASGI bridge.
"""

from __future__ import annotations

import hashlib
import importlib
import sys
import threading
import traceback
import tracemalloc
from pathlib import Path

LOCAL_ONLY = ("mediagate.local", "mediagate.adapters.local")


def import_worker_graph() -> dict:
    import mediagate

    root = Path(mediagate.__file__).parent
    names = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if not name.startswith(LOCAL_ONLY):
            names.append(name)
    imported, failed = [], {}
    for name in names:
        try:
            importlib.import_module(name)
            imported.append(name)
        except BaseException as exc:
            failed[name] = "".join(traceback.format_exception_only(exc)).strip()
    leaked = sorted(
        m for m in sys.modules if m.startswith(LOCAL_ONLY) or m.split(".")[0] in ("psycopg", "psycopg_pool")
    )
    return {
        "imported": imported,
        "failed": failed,
        "leaked": leaked,
        "platform": sys.platform,
        "python": sys.version.split()[0],
        "threads": threading.active_count(),
    }


def must_fail(modules: list[str]) -> dict:
    results = {}
    for name in modules:
        before = set(sys.modules)
        try:
            importlib.import_module(name)
            results[name] = None
        except BaseException as exc:
            results[name] = f"{type(exc).__name__}: {exc}"
        finally:
            for added in set(sys.modules) - before:  # parents too: leave the interpreter as it was
                sys.modules.pop(added, None)
    return results


def runtime_state() -> dict:
    loaded = sorted(m for m in sys.modules if m.startswith(LOCAL_ONLY))
    return {"threads": threading.active_count(), "local_modules_loaded": loaded}


# -- the streaming ASGI bridge ----------------------------------------------------------------
#
# ``install_probe`` wraps the Worker's app (entry._isolate["app"]) in ``Probe``, an ASGI
# middleware that records what crosses the bridge for requests tagged ``X-Probe: <tag>``:
# every ``http.request`` message the app receives, every ``http.response.body`` message it
# sends (count, bytes, SHA-256) and the scope's client/server/location headers. Paths
# under ``/__probe/`` are small apps that misbehave on purpose (raise, stream forever, ...).
# ``trace_start``/``trace_peak`` measure the peak Python memory (tracemalloc) of whatever
# runs in between: the whole exchange, bridge included.

PROBE_CHUNK = 64 * 1024
BODY_CHUNKS = "mediagate.request.body_chunks"  # mediagate.ports.BODY_CHUNKS
JS_STREAM = "http.response.js_stream"  # asgi_bridge.JS_STREAM


async def probe_stub(stub) -> dict:
    """What Python sees on a Durable Object stub (the stand-in, held to workerd's behaviour by
    tests/test_fake_contracts.py): ``getattr(stub, "_binding", None)`` is an RPC property, not
    None, and the ``.fetch`` the code before issue #9's fix called on it fails."""
    from mediagate.adapters.cloudflare.ffi import is_nullish, unwrap_binding

    inner = unwrap_binding(stub)
    out = {"binding_is_nullish": is_nullish(getattr(stub, "_binding", None)), "binding_callable": callable(inner)}
    try:
        await inner.fetch("http://container/status")
        out["fetch_error"] = None
    except Exception as exc:
        out["fetch_error"] = str(getattr(exc, "message", None) or exc)
    return out


def job_delivery(env, job, attempts: int) -> list:
    """What ``QueueConsumer.push`` sends the Durable Object for ``job``: [body, headers] (the
    job with its storage grant, signed for the processor)."""
    from mediagate.adapters.cloudflare.container_dispatch import QueueConsumer

    text, headers = QueueConsumer(env).delivery(job.to_py(), int(attempts))
    return [text, headers]


def _header(scope: dict, name: bytes) -> str | None:
    return next((v.decode("latin-1") for k, v in scope["headers"] if k == name), None)


def _pulled(tag: str) -> int:
    import mediagate_harness  # the JS side: how many pieces its request-body stream produced so far

    return int(mediagate_harness.pulled(tag))


class Probe:
    def __init__(self, app) -> None:
        self.app = app
        self.records: dict[str, dict] = {}

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        tag = _header(scope, b"x-probe")
        if scope["path"].startswith("/__probe/"):
            return await self._special(scope, receive, send, tag or scope["path"])
        if tag is None:
            return await self.app(scope, receive, send)
        rec = self.records[tag] = {
            "method": scope["method"],
            "path": scope["path"],
            "client": list(scope["client"]) if scope.get("client") else None,
            "server": list(scope["server"]) if scope.get("server") else None,
            "scheme": scope["scheme"],
            "country": _header(scope, b"x-mediagate-country"),
            "continent": _header(scope, b"x-mediagate-continent"),
            "spec_version": scope.get("asgi", {}).get("spec_version"),
            "request_messages": 0,
            "request_bytes": 0,
            "request_max_chunk": 0,
            "request_js_chunks": 0,  # read through the BODY_CHUNKS extension (bytes kept in JS)
            "pulled_at_first": None,
            "disconnect_received": False,
            "status": None,
            "body_messages": 0,
            "body_bytes": 0,
            "js_stream": False,  # the body was a JS stream handed to the Response (no Python bytes)
            "sha256": None,
            "send_error": None,
            "done": False,
        }
        digest = hashlib.sha256()

        async def probe_receive():
            message = await receive()
            if message["type"] == "http.request":
                body = message.get("body", b"")
                if body:
                    count(len(body))
            elif message["type"] == "http.disconnect":
                rec["disconnect_received"] = True
            return message

        def count(body_len: int) -> None:
            if rec["pulled_at_first"] is None:
                rec["pulled_at_first"] = _pulled(tag)
            rec["request_messages"] += 1
            rec["request_bytes"] += body_len
            rec["request_max_chunk"] = max(rec["request_max_chunk"], body_len)

        extensions = scope.get("extensions") or {}
        if BODY_CHUNKS in extensions:
            real_open = extensions[BODY_CHUNKS]["open"]

            def probe_open():
                async def chunks():
                    try:
                        async for chunk in real_open():
                            count(len(chunk))
                            rec["request_js_chunks"] += 1
                            yield chunk
                    except ConnectionError:
                        rec["disconnect_received"] = True
                        raise

                return chunks()

            scope = {**scope, "extensions": {**extensions, BODY_CHUNKS: {"open": probe_open}}}

        async def probe_send(message):
            if message["type"] == "http.response.start":
                rec["status"] = message["status"]
            elif message["type"] == JS_STREAM:
                rec["js_stream"] = True
            elif message["type"] == "http.response.body":
                body = message.get("body", b"")
                if body:
                    rec["body_messages"] += 1
                    rec["body_bytes"] += len(body)
                    digest.update(body)
            try:
                await send(message)
            except BaseException as exc:
                rec["send_error"] = type(exc).__name__
                raise

        try:
            await self.app(scope, probe_receive, probe_send)
        finally:
            rec["sha256"] = digest.hexdigest()
            rec["done"] = True

    async def _special(self, scope, receive, send, tag: str) -> None:
        """Apps that test the bridge itself, not the Worker's routes."""
        rec = self.records[tag] = {"sent": 0, "send_error": None, "done": False}
        path = scope["path"]
        query = dict(p.split("=", 1) for p in scope["query_string"].decode().split("&") if "=" in p)
        start = {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/octet-stream")],
        }
        try:
            if path == "/__probe/raise-before":
                raise RuntimeError("boom before the response")
            if path == "/__probe/no-response":
                return
            if path == "/__probe/raise-after":
                await send({**start, "headers": [(b"content-type", b"text/plain")]})
                await send({"type": "http.response.body", "body": b"complete"})
                raise RuntimeError("boom after a complete response")
            if path == "/__probe/raise-midstream":
                await send(start)
                await send({"type": "http.response.body", "body": b"x" * PROBE_CHUNK, "more_body": True})
                rec["sent"] += 1
                raise RuntimeError("boom in the middle of the body")
            if path == "/__probe/stream":  # unknown length: a plain identity stream, chunked
                chunks, size = int(query.get("chunks", "8")), int(query.get("size", str(PROBE_CHUNK)))
                await send(start)
                for i in range(chunks):
                    await send({"type": "http.response.body", "body": bytes([i % 251]) * size, "more_body": True})
                    rec["sent"] += 1
                await send({"type": "http.response.body", "body": b""})
                return
            if path == "/__probe/endless":  # until the client goes away
                await send(start)
                while True:
                    await send({"type": "http.response.body", "body": b"e" * PROBE_CHUNK, "more_body": True})
                    rec["sent"] += 1
            raise RuntimeError(f"no probe app {path}")
        except BaseException as exc:
            rec["send_error"] = type(exc).__name__
            raise
        finally:
            rec["done"] = True


def install_probe(entry, worker) -> None:
    """Wrap the Worker's app (built on the first request) in a :class:`Probe`."""
    app = entry._app(worker.env)
    if not isinstance(app, Probe):
        entry._isolate["app"] = Probe(app)


def probe_record(entry, tag: str) -> dict | None:
    app = entry._isolate.get("app")
    record = app.records.get(tag) if isinstance(app, Probe) else None
    return dict(record) if record is not None else None


_trace = {"base": 0}


def trace_start() -> None:
    tracemalloc.start()
    tracemalloc.reset_peak()
    _trace["base"] = tracemalloc.get_traced_memory()[0]


def trace_peak() -> int:
    """Peak Python memory allocated since :func:`trace_start`, which it stops."""
    peak = tracemalloc.get_traced_memory()[1] - _trace["base"]
    tracemalloc.stop()
    return peak
