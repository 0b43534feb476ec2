"""Mediagate core: the tus engine, job model and API, behind small ports.

Everything importable from here except ``mediagate.adapters.local`` and
``mediagate.local`` is Pyodide-safe (pure Python, async I/O only) so it runs in the
Cloudflare Python Worker as well as under CPython.
"""
