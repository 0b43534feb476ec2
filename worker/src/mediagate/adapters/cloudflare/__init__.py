"""Cloudflare adapters: R2 (ObjectStore), Queues (JobQueue), Neon over HTTP (Database).

Pyodide-safe: pure Python and async only. ``js``/``pyodide.ffi`` are touched only in
:mod:`.ffi`, so every module here also imports under CPython, where the tests drive the
adapters against JS-shaped Python fakes.
"""
