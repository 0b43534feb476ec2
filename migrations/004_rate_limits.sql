-- Per-user (or per-IP) request counters for the API rate limits, one row per key and
-- fixed one-minute window. UNLOGGED: counters are cheap to lose (a crash or a Neon
-- compute restart only forgets the current minute) and skip the WAL on every request.
-- Old windows are deleted opportunistically by the limiter itself (mediagate.ratelimit).
CREATE UNLOGGED TABLE IF NOT EXISTS rate_limits (
  key TEXT NOT NULL,                 -- '<budget>:u:<user id>' or '<budget>:ip:<address>'
  window_start BIGINT NOT NULL,      -- Unix seconds, a multiple of the window length
  count INT NOT NULL DEFAULT 0,
  PRIMARY KEY (key, window_start)
);
CREATE INDEX IF NOT EXISTS rate_limits_window_idx ON rate_limits (window_start);

-- The admin dashboard: recent failures and completions by finish time.
CREATE INDEX IF NOT EXISTS processing_jobs_status_completed_idx ON processing_jobs (status, completed_at DESC NULLS LAST);
