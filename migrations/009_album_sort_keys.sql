-- Issue #11: an album page is an index range scan with LIMIT, like the main listing.
--
-- album_files carries a copy of its file's sort keys (created_at, taken_at, display name,
-- size) and of the columns the listing filters on (type, status, favourite, camera, lens,
-- trashed_at), with one (album_id, <sort key>, file_id) index per sort order, partial on
-- live members and built on exactly the expressions of migration 007's files indexes. An
-- album page then walks one index in either direction from a keyset cursor and stops after
-- a page, however large the album, instead of fetching and sorting all its members.
--
-- The copies are kept by triggers, not by the repositories' writes: files are written by
-- the worker (rename, favourite, trash/restore, file_status.py recording taken_at and camera)
-- and by the processor (container/processor/status.py) over their own connections, and by
-- anything run by hand; a trigger keeps every one of them right with no code in any, and
-- inside the same transaction as the write.
--   * album_files BEFORE INSERT: the new member copies its file's row, read FOR SHARE so a
--     concurrent update of that file either commits first (and is read) or waits for this
--     insert to commit (and its trigger then updates the new member too). A batch add racing
--     a batch update of the same files in another order can deadlock; Postgres aborts one
--     and both Database adapters run that statement again (mediagate/db_retry.py).
--   * files AFTER UPDATE of a copied column (WHEN one of them really changed, so progress
--     and key writes do not fire it): the file's memberships follow (album_files_file_idx).
--   * A purge deletes the file; its memberships cascade (nothing to keep).
ALTER TABLE album_files ADD COLUMN IF NOT EXISTS created_at TIMESTAMP;
ALTER TABLE album_files ADD COLUMN IF NOT EXISTS taken_at TIMESTAMP;
ALTER TABLE album_files ADD COLUMN IF NOT EXISTS filename TEXT;
ALTER TABLE album_files ADD COLUMN IF NOT EXISTS file_size BIGINT;
ALTER TABLE album_files ADD COLUMN IF NOT EXISTS file_type VARCHAR(20);
ALTER TABLE album_files ADD COLUMN IF NOT EXISTS processing_status VARCHAR(20);
ALTER TABLE album_files ADD COLUMN IF NOT EXISTS favourite BOOLEAN;
ALTER TABLE album_files ADD COLUMN IF NOT EXISTS camera_make TEXT;
ALTER TABLE album_files ADD COLUMN IF NOT EXISTS camera_model TEXT;
ALTER TABLE album_files ADD COLUMN IF NOT EXISTS lens TEXT;
ALTER TABLE album_files ADD COLUMN IF NOT EXISTS trashed_at TIMESTAMP;

CREATE OR REPLACE FUNCTION album_files_copy_file() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  SELECT f.created_at, f.taken_at, f.filename, f.file_size, f.file_type, f.processing_status, f.favourite,
         f.camera_make, f.camera_model, f.lens, f.trashed_at
    INTO NEW.created_at, NEW.taken_at, NEW.filename, NEW.file_size, NEW.file_type, NEW.processing_status,
         NEW.favourite, NEW.camera_make, NEW.camera_model, NEW.lens, NEW.trashed_at
    FROM files f WHERE f.id = NEW.file_id FOR SHARE;
  RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION album_files_follow_file() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE album_files SET created_at = NEW.created_at, taken_at = NEW.taken_at, filename = NEW.filename,
    file_size = NEW.file_size, file_type = NEW.file_type, processing_status = NEW.processing_status,
    favourite = NEW.favourite, camera_make = NEW.camera_make, camera_model = NEW.camera_model, lens = NEW.lens,
    trashed_at = NEW.trashed_at
  WHERE file_id = NEW.id;
  RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER album_files_copy_file BEFORE INSERT OR UPDATE OF file_id ON album_files
  FOR EACH ROW EXECUTE FUNCTION album_files_copy_file();

-- Created before the backfill: it locks files against writes until this migration commits,
-- so no update can fall between the backfill and the trigger taking over.
CREATE OR REPLACE TRIGGER files_album_copies AFTER UPDATE OF created_at, taken_at, filename, file_size, file_type,
    processing_status, favourite, camera_make, camera_model, lens, trashed_at ON files
  FOR EACH ROW
  WHEN ((OLD.created_at, OLD.taken_at, OLD.filename, OLD.file_size, OLD.file_type, OLD.processing_status,
         OLD.favourite, OLD.camera_make, OLD.camera_model, OLD.lens, OLD.trashed_at)
        IS DISTINCT FROM
        (NEW.created_at, NEW.taken_at, NEW.filename, NEW.file_size, NEW.file_type, NEW.processing_status,
         NEW.favourite, NEW.camera_make, NEW.camera_model, NEW.lens, NEW.trashed_at))
  EXECUTE FUNCTION album_files_follow_file();

-- Backfill the memberships made before this migration (rerunning changes nothing).
UPDATE album_files af SET created_at = f.created_at, taken_at = f.taken_at, filename = f.filename,
  file_size = f.file_size, file_type = f.file_type, processing_status = f.processing_status,
  favourite = f.favourite, camera_make = f.camera_make, camera_model = f.camera_model, lens = f.lens,
  trashed_at = f.trashed_at
FROM files f
WHERE f.id = af.file_id
  AND (af.created_at, af.taken_at, af.filename, af.file_size, af.file_type, af.processing_status, af.favourite,
       af.camera_make, af.camera_model, af.lens, af.trashed_at)
      IS DISTINCT FROM
      (f.created_at, f.taken_at, f.filename, f.file_size, f.file_type, f.processing_status, f.favourite,
       f.camera_make, f.camera_model, f.lens, f.trashed_at);

-- One index per sort order (a btree serves both directions), the same key expressions as
-- files_live_*_idx so the album query is the main listing's with af. for f.
CREATE INDEX IF NOT EXISTS album_files_live_created_idx ON album_files (album_id, created_at, file_id)
  WHERE trashed_at IS NULL;
CREATE INDEX IF NOT EXISTS album_files_live_taken_desc_idx
  ON album_files (album_id, (COALESCE(taken_at, created_at - interval '3000 years')), file_id)
  WHERE trashed_at IS NULL;
CREATE INDEX IF NOT EXISTS album_files_live_taken_asc_idx
  ON album_files (album_id, (COALESCE(taken_at, created_at + interval '3000 years')), file_id)
  WHERE trashed_at IS NULL;
CREATE INDEX IF NOT EXISTS album_files_live_name_idx ON album_files (album_id, lower(filename), file_id)
  WHERE trashed_at IS NULL;
CREATE INDEX IF NOT EXISTS album_files_live_size_idx ON album_files (album_id, file_size, file_id)
  WHERE trashed_at IS NULL;
-- The two filters whose matches can be few in any album, as in 007: favourites and the
-- files not (yet) processed; others scan the album's order index and stop after a page.
CREATE INDEX IF NOT EXISTS album_files_live_favourite_idx ON album_files (album_id, created_at, file_id)
  WHERE trashed_at IS NULL AND favourite;
CREATE INDEX IF NOT EXISTS album_files_live_unfinished_idx
  ON album_files (album_id, processing_status, created_at, file_id)
  WHERE trashed_at IS NULL AND processing_status <> 'completed';
-- An album's trash (its trashed members, newest upload first).
CREATE INDEX IF NOT EXISTS album_files_trash_idx ON album_files (album_id, created_at, file_id)
  WHERE trashed_at IS NOT NULL;
ANALYZE album_files;
