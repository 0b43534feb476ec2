-- Processing progress, failure reasons, time-to-playable, webhooks.

ALTER TABLE files ADD COLUMN IF NOT EXISTS processing_progress REAL NOT NULL DEFAULT 0;
ALTER TABLE files ADD COLUMN IF NOT EXISTS processing_error TEXT;
ALTER TABLE files ADD COLUMN IF NOT EXISTS placeholder TEXT;
ALTER TABLE files ADD COLUMN IF NOT EXISTS thumbnail_key TEXT;
ALTER TABLE processing_jobs ADD COLUMN IF NOT EXISTS attempts INT NOT NULL DEFAULT 0;
ALTER TABLE processing_jobs ADD COLUMN IF NOT EXISTS progress REAL NOT NULL DEFAULT 0;
ALTER TABLE processing_jobs ADD COLUMN IF NOT EXISTS playable_at TIMESTAMP;
CREATE INDEX IF NOT EXISTS processing_jobs_status_idx ON processing_jobs (status, created_at);

-- Webhook events the Worker accepted (idempotency: an event id applies once).
CREATE TABLE IF NOT EXISTS webhook_events (
  id TEXT PRIMARY KEY,
  event TEXT NOT NULL,
  file_id UUID,
  payload JSONB NOT NULL,
  received_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

-- Users' own webhook endpoints; each gets the same signed events, with retries.
CREATE TABLE IF NOT EXISTS user_webhooks (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id UUID NOT NULL,
  url TEXT NOT NULL,
  secret TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX IF NOT EXISTS user_webhooks_user_idx ON user_webhooks (user_id);

CREATE TABLE IF NOT EXISTS webhook_deliveries (
  id BIGSERIAL PRIMARY KEY,
  webhook_id UUID REFERENCES user_webhooks(id) ON DELETE CASCADE,
  event_id TEXT NOT NULL,
  attempts INT NOT NULL,
  status_code INT,
  error TEXT,
  delivered BOOLEAN NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
