-- Crash-safe upload completion and the storage sweep (mediagate.tus.completion,
-- mediagate.storage_sweep).
--
-- uploads.state gains 'completing': every byte is in a committed multipart part and the
-- part list is the intent to assemble; a crash after it is finished by the next HEAD or
-- the cleanup sweep. The column is VARCHAR(20) without a CHECK, so only the comment and
-- an index change.
COMMENT ON COLUMN uploads.state IS 'active, completing, completed, expired, terminated';

-- The cleanup sweep looks for uploads whose completion was interrupted.
CREATE INDEX IF NOT EXISTS uploads_unfinished_idx ON uploads (updated_at)
  WHERE state = 'completing' OR (state = 'completed' AND file_id IS NULL)
     OR (state = 'active' AND upload_offset = upload_length);

-- The storage sweep asks, per listed object, whether a row still refers to it.
CREATE INDEX IF NOT EXISTS files_original_key_idx ON files (original_key);
CREATE INDEX IF NOT EXISTS uploads_object_key_idx ON uploads (object_key);
CREATE INDEX IF NOT EXISTS uploads_multipart_id_idx ON uploads (multipart_id) WHERE multipart_id IS NOT NULL;

-- Where the storage sweep goes on listing each prefix next run (NULL: from the start),
-- so each run examines a bounded batch and a large bucket is covered over many runs.
CREATE TABLE IF NOT EXISTS storage_sweep_cursors (
  prefix TEXT PRIMARY KEY,
  cursor TEXT,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
