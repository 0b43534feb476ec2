"""tus 1.0.0 resumable uploads onto an R2-style multipart object store."""
