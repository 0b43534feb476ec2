"""Media processing: images, RAW, LOG and video, as plain functions over local files."""
