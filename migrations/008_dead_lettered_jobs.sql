-- Dead letters on Cloudflare (mediagate.adapters.cloudflare.queue_stats): Queues does not
-- let a Worker count the dead-letter queue, so its consumer stamps each job it receives
-- (mediagate.file_status.dead_lettered). The admin stats count the stamped jobs; locally
-- the queue_dead_letters table answers instead.
ALTER TABLE processing_jobs ADD COLUMN IF NOT EXISTS dead_lettered_at TIMESTAMP;
CREATE INDEX IF NOT EXISTS processing_jobs_dead_lettered_idx ON processing_jobs (dead_lettered_at)
  WHERE dead_lettered_at IS NOT NULL;
-- Depth on Cloudflare: jobs whose message the broker still holds.
CREATE INDEX IF NOT EXISTS processing_jobs_unfinished_idx ON processing_jobs (status)
  WHERE status IN ('queued', 'processing');
