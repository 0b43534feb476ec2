-- Mediagate schema (Postgres 15+ / Neon). Applied by scripts/migrate.py in order with
-- migrations/*.sql; every statement is idempotent so re-running is safe.

CREATE TABLE IF NOT EXISTS files (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id UUID NOT NULL,
  original_key TEXT NOT NULL,
  file_type VARCHAR(20) NOT NULL,          -- 'video', 'image', 'other'
  mime_type VARCHAR(100) NOT NULL,
  file_size BIGINT NOT NULL,
  upload_status VARCHAR(20) DEFAULT 'uploading',      -- 'uploading', 'processing', 'completed', 'failed'
  processing_status VARCHAR(20) DEFAULT 'pending',    -- 'pending', 'processing', 'completed', 'failed'
  preview_key TEXT,
  hls_playlist_key TEXT,
  metadata JSONB,
  created_at TIMESTAMP DEFAULT NOW(),
  updated_at TIMESTAMP DEFAULT NOW()
);

CREATE TABLE IF NOT EXISTS processing_jobs (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  file_id UUID REFERENCES files(id) ON DELETE CASCADE,
  job_type VARCHAR(20) NOT NULL,           -- 'video_transcode', 'image_preview', 'other'
  status VARCHAR(20) DEFAULT 'queued',     -- 'queued', 'processing', 'completed', 'failed'
  queue_message_id TEXT,
  error_message TEXT,
  created_at TIMESTAMP DEFAULT NOW(),
  started_at TIMESTAMP,
  completed_at TIMESTAMP
);
