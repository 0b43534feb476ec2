"""Write workerd's "dev" Pyodide bundle (``pyodide_dev.capnp.bin``) from the npm package.

The bundle is a capnp ``Bundle`` of three internal modules whose names workerd imports:
the patched Emscripten glue (``pyodide.asm.mjs``), the wasm and the stdlib zip. The
patches do what Cloudflare's own bundle build does to the glue: route wasm compilation,
time, randomness and dynamic-library loading through workerd's
``pyodide-internal:builtin_wrappers``, forbid ``eval``, let the runtime observe libffi
closures, carry the Pyodide 314.0.6 stack-switching fix (save/restore the thread state's
current frame, upstream pyodide#6466) and export ``_createPyodideModule`` by name.

Every patch names how many sites it must change: a different Pyodide build fails here with
the patch's name instead of a Worker that breaks at runtime.
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

CAPNP_SCHEMA = """@0xc8cbb234694939d5;
struct Bundle { modules @0 :List(Module); }
struct Module {
  name @0 :Text;
  union { src @1 :Data; wasm @4 :Data; data @5 :Data; json @6 :Text; }
  tsDeclaration @3 :Text;
  type @2 :ModuleType;
  compileCache @7 :Data;
}
enum ModuleType { bundle @0; builtin @1; internal @2; }
"""

MODULE_PREFIX = "pyodideRuntime-internal:"
WRAPPERS = "pyodide-internal:builtin_wrappers"
NO_EVAL = "(()=>{throw new Error('Internal Emscripten code tried to eval, this should not happen')})()"
THREAD_FRAME = "HEAP32[(state.threadState+52)/4]"  # PyThreadState.current_frame (wasm32, 3.14)


class PatchError(SystemExit):
    """A patch site was not found the expected number of times."""


@dataclass(frozen=True)
class Patch:
    name: str
    pattern: str
    replacement: str
    count: int
    regex: bool = False

    def apply(self, src: str) -> str:
        if self.regex:
            out, found = re.subn(self.pattern, self.replacement, src)
        else:
            found = src.count(self.pattern)
            out = src.replace(self.pattern, self.replacement)
        if found != self.count:
            raise PatchError(
                f"pyodide.asm.mjs patch {self.name!r}: expected {self.count} site(s), found {found}; "
                "this Pyodide build is not the one scripts/workerd/bundle.py was written for"
            )
        return out


PATCHES = (
    Patch("wasm modules", r"new WebAssembly\.Module\(", "newWasmModule(", 4, regex=True),
    Patch("wasm instantiate", r"(?<![\w$.])WebAssembly\.instantiate\(", "wasmInstantiate(", 2, regex=True),
    Patch("clock", r"(?<![\w$.])Date\.now\b", "monotonicDateNow", 22, regex=True),
    Patch("randomness", "crypto.getRandomValues(", "getRandomValues(Module,", 1),
    Patch("eval(func)", "eval(func)", NO_EVAL, 2),
    Patch("eval(UTF8ToString(ptr))", "eval(UTF8ToString(ptr))", NO_EVAL, 3),
    Patch("eval(data)", "eval(data)", NO_EVAL, 1),
    Patch(
        "dynamic libraries",
        "function loadLibData(){",
        "function loadLibData(){var libData=patchedLoadLibData(Module,libName,flags.rpath);"
        "return flags.loadAsync?Promise.resolve(libData):libData}function unusedLoadLibData(){",
        1,
    ),
    Patch("library memory", r"(?<![\w$.])getMemory\(", "Module.getMemoryPatched(Module,libName,", 1, regex=True),
    Patch(
        "library table log",
        "var tableBase=metadata.tableSize?wasmTable.length:0;",
        "var tableBase=metadata.tableSize?wasmTable.length:0;"
        "Module.snapshotDebug&&console.log('loadWebAssemblyModule',libName,memoryBase,tableBase);",
        1,
    ),
    Patch(
        "ffi closure alloc",
        "function ffi_closure_alloc_js(size,code){var closure=_malloc(size);var index=getEmptyTableSlot();",
        "function ffi_closure_alloc_js(size,code){var closure=_malloc(size);var index=getEmptyTableSlot();"
        "Module.recordFfiClosureAlloc?.(closure,index);",
        1,
    ),
    Patch(
        "ffi closure free",
        "function ffi_closure_free_js(closure){var index=HEAPU32[(closure>>2)+0>>>0];",
        "function ffi_closure_free_js(closure){var index=HEAPU32[(closure>>2)+0>>>0];"
        "Module.recordFfiClosureFree?.(closure,index);",
        1,
    ),
    Patch(
        "ffi closure prep",
        r"(function ffi_prep_closure_loc_js\([^)]*\)\{[^\n]*?setWasmTableEntry\([^;]*?\));",
        r"\1;Module.recordFfiPrepClosureLoc?.(closure,codeloc,sig);",
        1,
        regex=True,
    ),
    Patch(
        "stack switch save",
        "function saveState(){",
        "function saveState(){const state=origSaveState();if(state===Module.error){return state}"
        f"state.currentFrame={THREAD_FRAME};{THREAD_FRAME}=0;return state}}function origSaveState(){{",
        1,
    ),
    Patch(
        "stack switch restore",
        "function restoreState(state){",
        f"function restoreState(state){{origRestoreState(state);{THREAD_FRAME}=state.currentFrame}}"
        "function origRestoreState(state){",
        1,
    ),
    Patch(
        "named export",
        "export default _createPyodideModule;",
        "export default _createPyodideModule;export{_createPyodideModule};",
        1,
    ),
)

IMPORTS = (
    "import{addEventListener,location,newWasmModule,wasmInstantiate,monotonicDateNow,"
    f'getRandomValues,patchedLoadLibData}}from"{WRAPPERS}";\n'
)


def patch_glue(src: str) -> str:
    for patch in PATCHES:
        src = patch.apply(src)
    return IMPORTS + src


def write_bundle(package: Path, out: Path) -> None:
    """Build the bundle from an npm ``pyodide`` package directory into ``out`` (atomically)."""
    import capnp  # pycapnp (requirements-dev.txt)

    version = json.loads((package / "package.json").read_text())["version"]
    glue = patch_glue((package / "pyodide.asm.mjs").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        schema_path = Path(tmp) / "bundle.capnp"
        schema_path.write_text(CAPNP_SCHEMA)
        schema = capnp.load(str(schema_path))
    bundle = schema.Bundle.new_message()
    modules = bundle.init("modules", 3)
    contents = (
        ("pyodide.asm", "src", glue.encode()),
        ("pyodide.asm.wasm", "wasm", (package / "pyodide.asm.wasm").read_bytes()),
        ("python_stdlib.zip", "data", (package / "python_stdlib.zip").read_bytes()),
    )
    for module, (name, kind, payload) in zip(modules, contents, strict=True):
        module.name = MODULE_PREFIX + name
        setattr(module, kind, payload)
        module.type = "internal"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_suffix(".partial")
    tmp_out.write_bytes(bundle.to_bytes())
    tmp_out.replace(out)
    print(f"==> bundle {out.name}: pyodide {version}, {out.stat().st_size} bytes", flush=True)
