"""Helpers that run the real stack (Postgres, the server process) for tests and benchmarks."""
