-- Fast filename search for the files API.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX IF NOT EXISTS files_filename_trgm_idx ON files USING gin (filename gin_trgm_ops);
CREATE INDEX IF NOT EXISTS files_user_type_created_idx ON files (user_id, file_type, created_at DESC, id DESC);
