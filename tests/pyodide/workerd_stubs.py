"""Stand-ins for the two modules workerd itself provides to the workers-runtime-sdk.

The vendored SDK (python_modules/workers) imports ``_cloudflare_compat_flags`` (the
Worker's compatibility flags) and ``_pyodide_entrypoint_helper`` (the runtime's glue:
``cloudflare:workers`` module, dynamic imports, waitUntil patching). They are not on PyPI;
the Workers runtime injects them. Here they are built from the harness object that
tests/pyodide/run.mjs registers as the JS module ``mediagate_harness``. Test use only.
"""

from __future__ import annotations

import sys
import types

import mediagate_harness  # registered by run.mjs (pyodide.registerJsModule)

flags = types.ModuleType("_cloudflare_compat_flags")
flags.python_workflows_implicit_dependencies = False
flags.python_request_headers_preserve_commas = True


def _flag(name: str) -> bool:
    if name.startswith("__"):
        raise AttributeError(name)
    return False


flags.__getattr__ = _flag
sys.modules["_cloudflare_compat_flags"] = flags

helper = types.ModuleType("_pyodide_entrypoint_helper")
helper.cloudflareWorkersModule = mediagate_harness.cloudflareWorkers
helper.cloudflareSocketsModule = None


async def doAnImport(name: str):
    return await mediagate_harness.doAnImport(name)


def patchWaitUntil(ctx) -> None:
    return None


def patch_env_helper(kwds):
    yield


helper.doAnImport = doAnImport
helper.patchWaitUntil = patchWaitUntil
helper.patch_env_helper = patch_env_helper
sys.modules["_pyodide_entrypoint_helper"] = helper
