"""The local runtime: the Worker core served by uvicorn on local adapters (CPython only)."""
