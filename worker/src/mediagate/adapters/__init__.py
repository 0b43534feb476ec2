"""Adapters for the ports: ``cloudflare`` (Pyodide, bindings) and ``local`` (CPython)."""
