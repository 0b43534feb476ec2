"""The Neon SQL-over-HTTP fixture behaves like Neon's endpoint, proven with the real driver.

* ``@neondatabase/serverless`` (pinned in package.json) runs tests/js/neon_driver_check.mjs
  against the fixture served over real HTTP (tests/pyodide/neon_server.py, as the locally
  run Worker uses it) on the session's real Postgres: parameters, transactions with
  isolation level / read-only / deferrable, a failing transaction rolled back entirely,
  DDL with ``rowCount`` null, ``arrayMode``, and Neon's error fields in ``NeonDbError``.
* Plain HTTP requests cover what the driver never sends: typed output
  (``Neon-Raw-Text-Output`` not ``true``), a query's own ``arrayMode``, the exact error
  object, bad requests, and the batch headers echoed back.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from support.stack import REPO, neon_http_endpoint
from support.tools import requires

NODE = shutil.which("node")
DRIVER = REPO / "node_modules" / "@neondatabase" / "serverless"
RAW = {"Neon-Raw-Text-Output": "true", "Neon-Array-Mode": "true"}


@pytest.fixture(scope="module")
def neon_endpoint(tmp_path_factory) -> Iterator[str]:
    """The fixture as its own server process (what the Worker reaches when run locally)."""
    with neon_http_endpoint(tmp_path_factory.mktemp("neon") / "neon.log") as url:
        yield url


def post(endpoint: str, dsn: str | None, body: object, **headers: str) -> httpx.Response:
    sent = {**RAW, **({"Neon-Connection-String": dsn} if dsn else {})}
    sent.update({k.replace("_", "-"): v for k, v in headers.items()})
    content = body if isinstance(body, str) else json.dumps(body)
    return httpx.post(endpoint, content=content, headers=sent, timeout=30)


@requires(NODE and DRIVER.is_dir(), "node and node_modules/@neondatabase/serverless (make test installs them)")
def test_real_driver_against_the_fixture(neon_endpoint, fresh_database_url):
    run = subprocess.run(
        [NODE, "tests/js/neon_driver_check.mjs", neon_endpoint, fresh_database_url],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)

    assert out["ddl"] == {"command": "CREATE", "rowCount": None, "rows": [], "fields": []}
    assert out["tagged"] == [
        {
            "n": 42,
            "t": "it's",
            "b": True,
            "j": {"k": [1, "two"]},
            "arr": ["a", 'b"c', None],
            "big": "9007199254740993",
            "nothing": None,
        }
    ]
    assert out["insert"] == {"command": "INSERT", "rowCount": 2, "rows": []}
    assert out["arrayMode"] == [[1, "one"], [2, "two"]]
    assert out["arrayModeFull"] == {
        "command": "SELECT",
        "rowCount": 2,
        "rowAsArray": True,
        "rows": [[1, "one"], [2, "two"]],
        "fields": [{"name": "id", "dataTypeID": 23}, {"name": "label", "dataTypeID": 25}],
    }

    insert, update, first, last = out["transaction"]
    assert (insert["command"], insert["rowCount"], update["command"], update["rowCount"]) == ("INSERT", 1, "UPDATE", 2)
    assert first["rows"][0]["a"] == last["rows"][0]["b"]  # one transaction for the whole batch
    assert last["rows"][0] | {"b": None} == {"b": None, "isolation": "serializable", "read_only": "off"}

    assert out["readOnly"] == [[{"isolation": "serializable", "read_only": "on", "deferrable": "on"}], [{"n": 3}]]
    assert out["readOnlyWrite"]["code"] == "25006" and out["readOnlyWriteCount"] == 3

    failed = out["failedTransaction"]
    assert failed["name"] == "NeonDbError" and failed["code"] == "23505"
    assert failed["constraint"] == "driver_check_pkey" and failed["table"] == "driver_check"
    assert failed["detail"] == "Key (id)=(1) already exists." and failed["severity"] == "ERROR"
    after = out["afterFailedTransaction"]
    assert after["before"] == after["after"] == 3 and after["ten"] == []
    assert [r["label"] for r in after["labels"]] == ["one!", "two!", "three"]  # the UPDATE was rolled back too

    assert out["queryError"]["code"] == "42P01" and out["queryError"]["position"] == "15"
    assert out["queryError"]["message"] == 'relation "no_such_table" does not exist'
    assert out["notNull"]["code"] == "23502" and out["notNull"]["table"] == "driver_check"
    assert out["ddlInTransaction"] == [
        {"command": "CREATE", "rowCount": None, "rows": []},
        {"command": "SELECT", "rowCount": 1, "rows": [{"one": 1}]},
    ]

    # Straight from Postgres, not through the fixture: what the driver wrote, and nothing more.
    with psycopg.connect(fresh_database_url) as conn:
        rows = conn.execute("SELECT id, label, tags, doc FROM driver_check ORDER BY id").fetchall()
    assert rows == [(1, "one!", ["x", "y"], {"a": 1}), (2, "two!", None, None), (3, "three", None, None)]


def test_typed_output_and_query_array_mode(neon_endpoint, fresh_database_url):
    query = {
        "query": """SELECT $1::int4 AS i4, $2::int8 AS i8, $3::float8 AS f, 'NaN'::float8 AS nan, $4::numeric AS num,
                    $5::bool AS b, $6::jsonb AS j, $7::int[] AS ints, $8::text[] AS texts, $9::bool[] AS bools,
                    '{}'::text[] AS empty, $10::text AS nothing""",
        "params": [7, 2**40, 1.5, "2.50", True, {"a": [1, None]}, [[1, 2], [3, None]], ["x,y", 'q"', None], [True]],
    }
    query["params"].append(None)
    typed = post(neon_endpoint, fresh_database_url, query, Neon_Raw_Text_Output="false", Neon_Array_Mode="false")
    assert typed.status_code == 200, typed.text
    assert typed.json()["rows"] == [
        {
            "i4": 7,
            "i8": "1099511627776",
            "f": 1.5,
            "nan": "NaN",
            "num": "2.50",
            "b": True,
            "j": {"a": [1, None]},
            "ints": [[1, 2], [3, None]],
            "texts": ["x,y", 'q"', None],
            "bools": [True],
            "empty": [],
            "nothing": None,
        }
    ]
    raw = post(neon_endpoint, fresh_database_url, query).json()
    assert raw["rowAsArray"] is True
    assert raw["rows"][0][:6] == ["7", "1099511627776", "1.5", "NaN", "2.50", "t"]
    assert raw["rows"][0][7] == "{{1,2},{3,NULL}}"

    own = post(neon_endpoint, fresh_database_url, {"query": "SELECT 1 AS one", "arrayMode": False}).json()
    assert own["rowAsArray"] is False and own["rows"] == [{"one": "1"}]
    assert list(own) == ["rowAsArray", "fields", "rows", "command", "rowCount"]
    assert own["fields"][0] | {"tableID": 0} == {
        "name": "one",
        "dataTypeID": 23,
        "tableID": 0,
        "columnID": 0,
        "dataTypeSize": 4,
        "dataTypeModifier": -1,
        "format": "text",
    }


def test_batches_commands_and_headers(neon_endpoint, fresh_database_url):
    batch = {
        "queries": [
            {"query": "CREATE TABLE b (id int PRIMARY KEY)"},
            {"query": "INSERT INTO b SELECT generate_series(1, $1::int)", "params": [3]},
            {"query": "SELECT current_setting('transaction_isolation') AS iso", "arrayMode": False},
        ]
    }
    answer = post(neon_endpoint, fresh_database_url, batch, Neon_Batch_Isolation_Level="RepeatableRead")
    assert answer.status_code == 200, answer.text
    assert answer.headers["neon-batch-isolation-level"] == "RepeatableRead"
    assert "neon-batch-read-only" not in answer.headers
    assert answer.headers["access-control-allow-origin"] == "*"
    results = answer.json()["results"]
    assert [(r["command"], r["rowCount"]) for r in results] == [("CREATE", None), ("INSERT", 3), ("SELECT", 1)]
    assert results[0]["rows"] == [] and results[2]["rows"] == [{"iso": "repeatable read"}]

    single = [
        ("BEGIN", ("BEGIN", None)),
        ("SET LOCAL work_mem = '8MB'", ("SET", None)),
        ("UPDATE b SET id = id + 10 WHERE id > 1", ("UPDATE", 2)),
        ("DELETE FROM b WHERE id = 12", ("DELETE", 1)),
        ("DROP TABLE b", ("DROP", None)),
    ]
    for query, expected in single:
        got = post(neon_endpoint, fresh_database_url, {"query": query}).json()
        assert (got["command"], got["rowCount"]) == expected, query

    ro = post(
        neon_endpoint,
        fresh_database_url,
        {"queries": [{"query": "SELECT 1"}]},
        Neon_Batch_Read_Only="true",
        Neon_Batch_Deferrable="true",
    )
    assert ro.headers["neon-batch-read-only"] == "true" and ro.headers["neon-batch-deferrable"] == "true"


def test_failed_batch_rolls_back_and_errors_have_neons_shape(neon_endpoint, fresh_database_url):
    post(neon_endpoint, fresh_database_url, {"query": "CREATE TABLE r (id int PRIMARY KEY)"})
    failing = {
        "queries": [
            {"query": "INSERT INTO r VALUES (1), (2)"},
            {"query": "INSERT INTO r VALUES ($1)", "params": [2]},
        ]
    }
    answer = post(neon_endpoint, fresh_database_url, failing)
    assert answer.status_code == 400
    error = answer.json()
    assert list(error) == [
        "message",
        "code",
        "detail",
        "hint",
        "position",
        "internalPosition",
        "internalQuery",
        "severity",
        "where",
        "table",
        "column",
        "schema",
        "dataType",
        "constraint",
        "file",
        "line",
        "routine",
    ]
    assert error["code"] == "23505" and error["constraint"] == "r_pkey" and error["schema"] == "public"
    assert error["hint"] is None and error["routine"] and error["line"].isdigit()
    with psycopg.connect(fresh_database_url) as conn:
        assert conn.execute("SELECT count(*) FROM r").fetchone() == (0,)

    syntax = post(neon_endpoint, fresh_database_url, {"query": "SELEC 1"}).json()
    assert (syntax["code"], syntax["position"], syntax["message"]) == ("42601", "1", 'syntax error at or near "SELEC"')

    bad_level = post(neon_endpoint, fresh_database_url, {"query": "SELECT 1"}, Neon_Batch_Isolation_Level="Chaos")
    assert bad_level.status_code == 400
    assert bad_level.json() == dict.fromkeys(error) | {"message": "invalid isolation level", "code": "", "severity": ""}
    no_dsn = post(neon_endpoint, None, {"query": "SELECT 1"})
    assert no_dsn.status_code == 400 and no_dsn.json()["message"] == "invalid header: neon-connection-string"
    for body in ("{not json", {"queries": [{"params": []}]}, {"query": "SELECT 1", "params": "x"}):
        bad = post(neon_endpoint, fresh_database_url, body)
        assert bad.status_code == 400
        assert bad.json()["message"].startswith("could not parse the HTTP request body: ")
    wrong_db = post(neon_endpoint, fresh_database_url.rsplit("/", 1)[0] + "/no_such_db", {"query": "SELECT 1"})
    assert wrong_db.status_code == 400 and 'database "no_such_db" does not exist' in wrong_db.json()["message"]
