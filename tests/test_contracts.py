"""The shared contracts: one list per fact, and both sides (Worker, processor) read it."""

from __future__ import annotations

import json

import pytest
from mediagate import contracts
from mediagate.api.openapi import build_spec
from mediagate.classify import classify
from mediagate.contracts import JobOutcome, message_for_file
from processor.media import raw as processor_raw

# Every file extension of a format LibRaw decodes, as LibRaw's supported-camera list and the
# projects built on it (digiKam's drawfiles, rawpy's users) name them. Written out here on
# purpose: the test fails if the shared list loses one.
LIBRAW_EXTENSIONS = [
    "3fr",
    "ari",
    "arq",
    "arw",
    "bay",
    "bmq",
    "cap",
    "cine",
    "cr2",
    "cr3",
    "crw",
    "cs1",
    "dc2",
    "dcr",
    "dcs",
    "dng",
    "drf",
    "dsc",
    "eip",
    "erf",
    "fff",
    "ia",
    "iiq",
    "k25",
    "kc2",
    "kdc",
    "mdc",
    "mef",
    "mfw",
    "mos",
    "mrw",
    "nef",
    "nrw",
    "orf",
    "ori",
    "pef",
    "ptx",
    "pxn",
    "qtk",
    "raf",
    "raw",
    "rdc",
    "rw2",
    "rwl",
    "rwz",
    "sr2",
    "srf",
    "srw",
    "sti",
    "x3f",
]


@pytest.mark.parametrize("ext", LIBRAW_EXTENSIONS)
def test_every_libraw_extension_is_raw_on_both_sides(ext: str) -> None:
    for name in (f"IMG_0001.{ext}", f"IMG_0001.{ext.upper()}"):
        # the Worker: classified as a RAW image whatever the first bytes (most are TIFF inside)
        for head in (b"", b"II*\x00" + bytes(60)):
            kind = classify(name, "application/octet-stream", head)
            assert (kind.file_type, kind.is_raw) == ("image", True), (name, kind)
            assert kind.mime_type == contracts.RAW_EXTENSIONS[f".{ext}"]
    # the processor: the job message rebuilt from the row says RAW, and raw.py takes the extension
    row = {
        "file_id": "f",
        "user_id": "u",
        "original_key": "originals/u/x",
        "file_type": "image",
        "mime_type": contracts.RAW_EXTENSIONS[f".{ext}"],
        "filename": f"a.{ext}",
        "metadata": json.dumps({"upload": {"metadata": {}}, "is_raw": True}),
    }
    assert message_for_file("j", row)["is_raw"] is True
    assert f".{ext}" in processor_raw.RAW_EXTENSIONS


def test_statuses_are_one_list_for_the_api_and_its_description() -> None:
    spec = build_spec()
    schemas = spec["components"]["schemas"]
    stats = schemas["AdminStats"]["properties"]["jobs_by_status"]
    assert tuple(stats["required"]) == contracts.JOB_STATUSES
    text = json.dumps(spec)
    assert json.dumps(list(contracts.PROCESSING_STATUSES)) in text
    assert json.dumps(list(contracts.FILE_TYPES)) in text


def test_job_message_shape() -> None:
    message = contracts.job_message(
        job_id="j",
        file_id="f",
        user_id="u",
        object_key="k",
        file_type="unknown-kind",
        mime_type="",
        filename="x",
        is_raw=False,
        metadata={"colorspace": "slog3", "other": "dropped"},
    )
    assert message["file_type"] == "other" and message["job_type"] == "other" and message["lane"] == "fast"
    assert message["options"] == {"colorspace": "slog3"} and message["output_prefix"] == "derived/f/"
    assert set(contracts.REQUIRED_MESSAGE_KEYS) <= set(message)


def test_job_outcome_round_trips_and_refuses_unknown_actions() -> None:
    outcome = JobOutcome("retry", 8.0, "busy")
    assert JobOutcome.from_json(json.loads(json.dumps(outcome.as_json()))) == outcome
    assert JobOutcome.from_json({"action": "explode"}) is None
    assert JobOutcome.from_json("ack") is None
    with pytest.raises(ValueError):
        JobOutcome("later")
