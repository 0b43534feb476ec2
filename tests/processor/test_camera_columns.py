"""The processor's completion fills the library's date-taken and camera columns (migration
007) from the metadata, against real Postgres."""

from __future__ import annotations

import asyncio
import uuid

import psycopg
import pytest
from mediagate.adapters.local.postgres import PostgresDatabase
from processor.status import StatusStore, camera_fields


def test_camera_fields_from_exif_and_video_creation_time():
    exif = {"taken_at": "2023-06-15T10:00:00+02:00", "make": " Canon ", "model": "EOS R5", "lens_model": "RF 24mm"}
    assert camera_fields({"exif": exif}) == {
        "taken_at": "2023-06-15 10:00:00",  # the camera's wall clock
        "camera_make": "Canon",
        "camera_model": "EOS R5",
        "lens": "RF 24mm",
    }
    video = camera_fields({"kind": "video", "creation_time": "2024-05-01T08:09:10.000000Z"})
    assert video["taken_at"] == "2024-05-01 08:09:10" and video["camera_make"] is None
    for junk in ("0000:00:00 00:00:00", "not a date", "0001-01-01T00:00:00", 5):
        assert camera_fields({"exif": {"taken_at": junk, "make": ""}})["taken_at"] is None
        assert camera_fields({"exif": {"make": "\x00 "}})["camera_make"] is None


@pytest.fixture()
def migrated(postgres) -> str:
    return postgres.create_database()


def test_complete_writes_the_columns_and_keeps_them_on_a_rerun_without_exif(migrated):
    user, key = str(uuid.uuid4()), f"originals/x/{uuid.uuid4().hex}"
    with psycopg.connect(migrated) as conn:
        file_id = str(
            conn.execute(
                """INSERT INTO files (user_id, original_key, file_type, mime_type, file_size, filename)
                   VALUES (%s, %s, 'image', 'image/jpeg', 1, 'a.jpg') RETURNING id""",
                (user, key),
            ).fetchone()[0]
        )
        job_id = str(
            conn.execute(
                "INSERT INTO processing_jobs (file_id, job_type) VALUES (%s, 'image_preview') RETURNING id", (file_id,)
            ).fetchone()[0]
        )

    async def complete(metadata: dict) -> bool:
        db = PostgresDatabase(migrated)
        await db.open()
        try:
            return await StatusStore(db).complete(job_id, file_id, {"metadata": metadata, "outputs": []})
        finally:
            await db.close()

    exif = {"taken_at": "2021-02-03T04:05:06", "make": "Google", "model": "Pixel 7", "lens_model": "Pixel 7 back"}
    assert asyncio.run(complete({"kind": "image", "exif": exif}))
    assert asyncio.run(complete({"kind": "image"}))  # re-processed, nothing new: the columns stay
    with psycopg.connect(migrated) as conn:
        row = conn.execute(
            "SELECT taken_at::text, camera_make, camera_model, lens FROM files WHERE id = %s", (file_id,)
        ).fetchone()
    assert row == ("2021-02-03 04:05:06", "Google", "Pixel 7", "Pixel 7 back")
