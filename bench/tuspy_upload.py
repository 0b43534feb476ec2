"""Upload one file with tuspy (the Python tus client); prints {"url": ...} like tests/js/tus_upload.mjs.

.venv/bin/python bench/tuspy_upload.py --endpoint URL --file PATH --chunk-size N [--token T]
"""

from __future__ import annotations

import argparse
import json
import os

from tusclient import client


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--file", required=True)
    parser.add_argument("--chunk-size", type=int, required=True)
    parser.add_argument("--token")
    args = parser.parse_args()
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    tus = client.TusClient(args.endpoint, headers=headers)
    name = os.path.basename(args.file)
    uploader = tus.uploader(
        args.file,
        chunk_size=args.chunk_size,
        metadata={"filename": name, "filetype": "application/octet-stream"},
        retries=3,
        retry_delay=1,
    )
    uploader.upload()
    print(json.dumps({"url": uploader.url, "offset": uploader.offset}))


if __name__ == "__main__":
    main()
