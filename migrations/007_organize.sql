-- Issue #11: rename, favourites, trash, date taken / camera metadata, albums, share links.
--
-- files.filename stays the display name (rename changes it); original_filename keeps the
-- name it was uploaded under (NULL until the first rename: readers use COALESCE).
ALTER TABLE files ADD COLUMN IF NOT EXISTS original_filename TEXT;
ALTER TABLE files ADD COLUMN IF NOT EXISTS favourite BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE files ADD COLUMN IF NOT EXISTS trashed_at TIMESTAMP;
ALTER TABLE files ADD COLUMN IF NOT EXISTS taken_at TIMESTAMP;   -- wall-clock time the camera recorded
ALTER TABLE files ADD COLUMN IF NOT EXISTS camera_make TEXT;
ALTER TABLE files ADD COLUMN IF NOT EXISTS camera_model TEXT;
ALTER TABLE files ADD COLUMN IF NOT EXISTS lens TEXT;

-- Listing indexes, one per sort order, each (user_id, <sort key>, id) and partial on the
-- live (not trashed) files; a btree serves both directions. "taken" sorts files without
-- taken_at after the others in both orders (by created_at): the key pushes them 3000 years
-- below (desc) or above (asc) any real date, so each order is one uniform keyset.
CREATE INDEX IF NOT EXISTS files_live_created_idx ON files (user_id, created_at, id) WHERE trashed_at IS NULL;
CREATE INDEX IF NOT EXISTS files_live_taken_desc_idx
  ON files (user_id, (COALESCE(taken_at, created_at - interval '3000 years')), id) WHERE trashed_at IS NULL;
CREATE INDEX IF NOT EXISTS files_live_taken_asc_idx
  ON files (user_id, (COALESCE(taken_at, created_at + interval '3000 years')), id) WHERE trashed_at IS NULL;
CREATE INDEX IF NOT EXISTS files_live_name_idx ON files (user_id, lower(filename), id) WHERE trashed_at IS NULL;
CREATE INDEX IF NOT EXISTS files_live_size_idx ON files (user_id, file_size, id) WHERE trashed_at IS NULL;
-- Filters that can be selective get their own (user_id, <filter>, created_at, id) index.
CREATE INDEX IF NOT EXISTS files_live_type_idx ON files (user_id, file_type, created_at, id) WHERE trashed_at IS NULL;
CREATE INDEX IF NOT EXISTS files_live_favourite_idx ON files (user_id, created_at, id)
  WHERE trashed_at IS NULL AND favourite;
CREATE INDEX IF NOT EXISTS files_live_unfinished_idx ON files (user_id, processing_status, created_at, id)
  WHERE trashed_at IS NULL AND processing_status <> 'completed';
CREATE INDEX IF NOT EXISTS files_live_make_idx ON files (user_id, camera_make, created_at, id)
  WHERE trashed_at IS NULL AND camera_make IS NOT NULL;
CREATE INDEX IF NOT EXISTS files_live_model_idx ON files (user_id, camera_model, created_at, id)
  WHERE trashed_at IS NULL AND camera_model IS NOT NULL;
CREATE INDEX IF NOT EXISTS files_live_lens_idx ON files (user_id, lens, created_at, id)
  WHERE trashed_at IS NULL AND lens IS NOT NULL;
-- The trash page, and the cron sweep purging what was trashed long ago.
CREATE INDEX IF NOT EXISTS files_trash_idx ON files (user_id, created_at, id) WHERE trashed_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS files_trashed_at_idx ON files (trashed_at) WHERE trashed_at IS NOT NULL;

CREATE TABLE IF NOT EXISTS albums (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id UUID NOT NULL,
  name TEXT NOT NULL,
  cover_file_id UUID REFERENCES files(id) ON DELETE SET NULL,
  created_at TIMESTAMP NOT NULL DEFAULT NOW(),
  updated_at TIMESTAMP NOT NULL DEFAULT NOW()
);
CREATE INDEX IF NOT EXISTS albums_user_created_idx ON albums (user_id, created_at, id);

-- One file in many albums; a purged file or a deleted album takes its memberships along.
CREATE TABLE IF NOT EXISTS album_files (
  album_id UUID NOT NULL REFERENCES albums(id) ON DELETE CASCADE,
  file_id UUID NOT NULL REFERENCES files(id) ON DELETE CASCADE,
  added_at TIMESTAMP NOT NULL DEFAULT NOW(),
  PRIMARY KEY (album_id, file_id)
);
CREATE INDEX IF NOT EXISTS album_files_file_idx ON album_files (file_id);

-- Share links: a file or an album, reachable by an unguessable token until revoked/expired.
CREATE TABLE IF NOT EXISTS shares (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id UUID NOT NULL,
  token TEXT NOT NULL UNIQUE,
  file_id UUID REFERENCES files(id) ON DELETE CASCADE,
  album_id UUID REFERENCES albums(id) ON DELETE CASCADE,
  expires_at TIMESTAMP,
  allow_download BOOLEAN NOT NULL DEFAULT false,
  views BIGINT NOT NULL DEFAULT 0,
  created_at TIMESTAMP NOT NULL DEFAULT NOW(),
  revoked_at TIMESTAMP,
  CONSTRAINT shares_one_target CHECK ((file_id IS NULL) <> (album_id IS NULL))
);
CREATE INDEX IF NOT EXISTS shares_user_created_idx ON shares (user_id, created_at, id);
CREATE INDEX IF NOT EXISTS shares_file_idx ON shares (file_id) WHERE file_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS shares_album_idx ON shares (album_id) WHERE album_id IS NOT NULL;
