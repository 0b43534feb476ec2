"""Print a bearer token for a user: ``python -m mediagate.local.token <uuid> [--admin]``."""

from __future__ import annotations

import argparse
import os
import sys
import uuid

from ..auth import issue_token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("user", help="the user id (a UUID)")
    parser.add_argument("--admin", action="store_true", help="give the token the admin role")
    parser.add_argument("--ttl", type=int, default=30 * 24 * 3600, help="lifetime in seconds")
    args = parser.parse_args()
    secret = os.environ.get("JWT_SECRET")
    if not secret:
        sys.exit("JWT_SECRET is not set")
    try:
        uuid.UUID(args.user)
    except ValueError:
        sys.exit(f"USER must be a UUID, got {args.user!r}")
    print(issue_token(secret, args.user, role="admin" if args.admin else "user", ttl_seconds=args.ttl))


if __name__ == "__main__":
    main()
