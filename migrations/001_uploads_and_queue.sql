-- tus upload state, the file name/type columns and the local durable queue.

ALTER TABLE files ADD COLUMN IF NOT EXISTS filename TEXT NOT NULL DEFAULT '';
ALTER TABLE files ADD COLUMN IF NOT EXISTS upload_id TEXT;
CREATE INDEX IF NOT EXISTS files_user_created_idx ON files (user_id, created_at DESC, id DESC);
CREATE UNIQUE INDEX IF NOT EXISTS files_upload_id_idx ON files (upload_id);
CREATE INDEX IF NOT EXISTS processing_jobs_file_idx ON processing_jobs (file_id);

-- One row per tus upload. Offsets are committed only after the bytes are durable in the
-- object store (a whole multipart part, or a staged remainder object).
CREATE TABLE IF NOT EXISTS uploads (
  id TEXT PRIMARY KEY,
  user_id UUID NOT NULL,
  upload_length BIGINT,                    -- NULL while the length is deferred
  upload_offset BIGINT NOT NULL DEFAULT 0,
  metadata JSONB NOT NULL DEFAULT '{}'::jsonb,
  object_key TEXT NOT NULL,
  multipart_id TEXT,
  part_size BIGINT NOT NULL,
  parts JSONB NOT NULL DEFAULT '[]'::jsonb,   -- [{"n":1,"etag":"...","size":8388608}, ...]
  staged JSONB NOT NULL DEFAULT '[]'::jsonb,  -- [{"key":"...","size":123}, ...] bytes after the last part
  state VARCHAR(20) NOT NULL DEFAULT 'active', -- 'active', 'completed', 'terminated', 'expired'
  file_id UUID,
  lock_token TEXT,
  lock_heartbeat TIMESTAMPTZ,
  expires_at TIMESTAMPTZ NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX IF NOT EXISTS uploads_expiry_idx ON uploads (expires_at) WHERE state = 'active';

-- A durable queue shaped like Cloudflare Queues' pull consumer: leases with a visibility
-- timeout, retries with a delay, and a dead-letter table after max_attempts.
CREATE TABLE IF NOT EXISTS queue_messages (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  queue TEXT NOT NULL,
  body JSONB NOT NULL,
  attempts INT NOT NULL DEFAULT 0,
  visible_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  lease_id TEXT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX IF NOT EXISTS queue_messages_visible_idx ON queue_messages (queue, visible_at);

CREATE TABLE IF NOT EXISTS queue_dead_letters (
  id UUID PRIMARY KEY,
  queue TEXT NOT NULL,
  body JSONB NOT NULL,
  attempts INT NOT NULL,
  reason TEXT,
  created_at TIMESTAMPTZ NOT NULL,
  dead_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
