"""Local adapters: real files on disk, real Postgres. CPython only (not in the Worker bundle's import graph)."""
