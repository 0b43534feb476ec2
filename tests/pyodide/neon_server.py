"""Serve tests/support/neon_http_fixture.py on 127.0.0.1:<port> (TEST FIXTURE ONLY).

The protocol-faithful stand-in for Neon's SQL-over-HTTP endpoint, on a real Postgres,
for the Worker running on Pyodide (tests/test_pyodide_worker.py): its ``js.fetch`` reaches
this over real HTTP. tests/test_neon_fixture.py serves it the same way to the real
``@neondatabase/serverless`` driver. Usage: python tests/pyodide/neon_server.py PORT
"""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support.neon_http_fixture import NeonHttpFixture

if __name__ == "__main__":
    uvicorn.run(NeonHttpFixture().app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
