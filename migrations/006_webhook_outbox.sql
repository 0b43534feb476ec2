-- Users' webhooks go through an outbox (mediagate.webhooks.outbox): each event is a row
-- written in the same statement as the file status change that causes it; the
-- processor's delivery loop (processor.webhook_sender) sends due rows with backoff,
-- outside any processing slot. The row is also the delivery state the owner reads
-- (GET /api/webhooks/{id}/deliveries).
CREATE TABLE IF NOT EXISTS webhook_outbox (
  id BIGSERIAL PRIMARY KEY,
  event_id TEXT NOT NULL,                 -- the webhook-id header: the same on every attempt
  webhook_id UUID NOT NULL REFERENCES user_webhooks(id) ON DELETE CASCADE,
  event_type TEXT NOT NULL,
  payload JSONB NOT NULL,
  attempts INT NOT NULL DEFAULT 0,        -- counted when an attempt starts
  next_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  last_status INT,
  last_error TEXT,
  last_attempt_at TIMESTAMPTZ,
  delivered_at TIMESTAMPTZ,
  failed_at TIMESTAMPTZ,                  -- given up: a final answer, or attempts/age used up
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  UNIQUE (webhook_id, event_id)
);
CREATE INDEX IF NOT EXISTS webhook_outbox_due_idx ON webhook_outbox (next_at)
  WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX IF NOT EXISTS webhook_outbox_hook_idx ON webhook_outbox (webhook_id, id DESC);

-- The per-job delivery log it replaces (written by the old in-slot sender).
DROP TABLE IF EXISTS webhook_deliveries;
