"""Static checks of the Cloudflare deployment: wrangler.toml against the code, and the
processor image (container/Dockerfile) against the repository. No Docker engine and no
Cloudflare account here: `make deploy-check` runs wrangler's own validation
(``wrangler deploy --dry-run``); these tests check what wrangler cannot know — that the
classes, handlers, routes, vars and secrets it is told about exist in the code, and that
the image would contain and install everything the processor imports.
"""

from __future__ import annotations

import ast
import datetime
import json
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from mediagate.adapters.cloudflare import container_dispatch
from mediagate.jobs import lane_queue
from support.stack import REPO

sys.path.insert(0, str(REPO / "scripts"))
import dockerfile_check

WRANGLER = tomllib.loads((REPO / "wrangler.toml").read_text())
ENTRY = REPO / WRANGLER["main"]
DOCKERFILE = REPO / "container" / "Dockerfile"
WORKER_SRC = REPO / "worker" / "src"


def _entry_classes() -> dict[str, ast.ClassDef]:
    tree = ast.parse(ENTRY.read_text())
    return {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}


def _methods(cls: ast.ClassDef) -> set[str]:
    return {n.name for n in cls.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}


# -- wrangler.toml ----------------------------------------------------------------------------


def test_python_worker_entry_and_runtime_version():
    assert ENTRY.is_file() and ENTRY.suffix == ".py"
    assert "python_workers" in WRANGLER["compatibility_flags"]
    date = datetime.date.fromisoformat(WRANGLER["compatibility_date"])
    assert date >= datetime.date(2026, 9, 8)  # Python 3.14 (Pyodide 314) for Python Workers from this date
    # The vendored packages and the Pyodide tests target the same Python.
    vendor = (REPO / "scripts" / "vendor_worker.sh").read_text()
    assert re.search(r"WORKER_PYTHON=\$\{WORKER_PYTHON:-3\.14\}", vendor)
    lock = json.loads((REPO / "node_modules" / "pyodide" / "pyodide-lock.json").read_text())
    assert lock["info"]["python"].startswith("3.14.")
    package = json.loads((REPO / "package.json").read_text())
    assert package["devDependencies"]["pyodide"].startswith("314.")
    assert "wrangler" in package["devDependencies"]


def test_entry_defines_the_handlers_and_classes_wrangler_names():
    classes = _entry_classes()
    assert {"fetch", "scheduled", "queue"} <= _methods(classes["Default"])
    do_classes = {b["class_name"] for b in WRANGLER["durable_objects"]["bindings"]}
    container_classes = {c["class_name"] for c in WRANGLER["containers"]}
    migrated = {name for m in WRANGLER["migrations"] for name in m.get("new_sqlite_classes", [])}
    assert container_classes <= do_classes and do_classes <= migrated  # containers need SQLite DOs
    for name in do_classes:
        cls = classes[name]
        assert [b.id for b in cls.bases if isinstance(b, ast.Name)] == ["DurableObject"]
        assert {"fetch", "alarm"} <= _methods(cls)
    [binding] = WRANGLER["durable_objects"]["bindings"]
    assert binding["name"] == "PROCESSOR"  # what QueueConsumer reads from env
    assert "self.env.PROCESSOR" in Path(container_dispatch.__file__).read_text()


def test_bindings_match_the_adapters():
    [bucket] = WRANGLER["r2_buckets"]
    [producer, video_producer] = WRANGLER["queues"]["producers"]
    worker_py = (WORKER_SRC / "mediagate" / "adapters" / "cloudflare" / "worker.py").read_text()
    assert bucket["binding"] == "BUCKET" and "env.BUCKET" in worker_py
    assert producer["binding"] == "JOBS" and "env.JOBS" in worker_py
    # the video lane: its own queue, named as mediagate.jobs.lane_queue names it
    # named by explicit config (VIDEO_QUEUE_BINDING), never probed for
    assert video_producer["binding"] == WRANGLER["vars"]["VIDEO_QUEUE_BINDING"] == "JOBS_VIDEO"
    assert '"VIDEO_QUEUE_BINDING"' in worker_py and "JOBS_VIDEO" not in worker_py.split('"""', 2)[2]
    assert video_producer["queue"] == lane_queue(producer["queue"], "video")
    assert WRANGLER["vars"]["R2_BUCKET"] == bucket["bucket_name"]
    assert WRANGLER["vars"]["QUEUE_NAME"] == producer["queue"]


def test_queue_consumer_settings():
    [consumer, video_consumer, dead_letters] = WRANGLER["queues"]["consumers"]
    [producer, video_producer] = WRANGLER["queues"]["producers"]
    variables = WRANGLER["vars"]
    assert consumer["queue"] == producer["queue"]
    assert video_consumer["queue"] == video_producer["queue"]
    assert consumer["dead_letter_queue"] and consumer["dead_letter_queue"] != consumer["queue"]
    # Both lanes dead-letter into the one DLQ, which is consumed too (its messages fail their files), by name.
    assert video_consumer["dead_letter_queue"] == consumer["dead_letter_queue"]
    assert dead_letters["queue"] == consumer["dead_letter_queue"] == variables["DEAD_LETTER_QUEUE"]
    assert "dead_letter_queue" not in dead_letters
    assert consumer["max_batch_size"] == video_consumer["max_batch_size"] == 1
    # lanes: 1 fast + 2 video = the container's 3 jobs at once, 2 of them videos
    assert consumer["max_concurrency"] + video_consumer["max_concurrency"] == 3
    assert int(variables["PROCESSOR_MAX_CONCURRENCY"]) == 3
    assert video_consumer["max_concurrency"] == int(variables["PROCESSOR_VIDEO_CONCURRENCY"]) == 2
    for c in (consumer, video_consumer):
        assert c["max_retries"] + 1 == int(variables["QUEUE_MAX_ATTEMPTS"])  # deliveries = attempts
    # The processor's own default agrees.
    assert "max_concurrency: int = 3" in (REPO / "container" / "processor" / "settings.py").read_text()


def test_containers_entry():
    [container] = WRANGLER["containers"]
    assert container["image"] == "./container/Dockerfile" and (REPO / container["image"]).is_file()
    assert container["image_build_context"] == "."
    assert int(WRANGLER["vars"]["PROCESSOR_INSTANCES"]) <= container["max_instances"]


def test_cron_and_assets():
    assert WRANGLER["triggers"]["crons"]
    assets = WRANGLER["assets"]
    assert assets["directory"] == "./frontend/dist"
    assert 'outDir: "dist"' in (REPO / "frontend" / "vite.config.ts").read_text()
    # Every route of the Worker's app must reach the Worker before the assets do.
    paths = set()
    for path in (WORKER_SRC / "mediagate" / "api").glob("*.py"):
        paths |= set(re.findall(r'(?:Route|Mount)\(\s*"(/[^"]*)"', path.read_text()))
    assert paths
    patterns = assets["run_worker_first"]
    for route in paths:
        assert any(re.fullmatch(p.replace("*", ".*"), route) for p in patterns), route


def test_vars_are_read_by_the_code_and_secrets_are_documented():
    code = "\n".join(p.read_text() for p in (WORKER_SRC / "mediagate").rglob("*.py"))
    for name in WRANGLER["vars"]:
        assert f'"{name}"' in code, f"[vars] {name} is not read by the Worker"
    config_text = (REPO / "wrangler.toml").read_text()
    readme = (REPO / "README.md").read_text()
    deploy = readme[readme.index("## Deploy to Cloudflare") :]
    secrets = [
        "JWT_SECRET",
        "DATABASE_URL",
        "WEBHOOK_SECRET",
        "R2_ACCOUNT_ID",
        "R2_ACCESS_KEY_ID",
        "R2_SECRET_ACCESS_KEY",
        "WORKER_URL",
    ]
    for name in secrets:
        assert f"#   {name}" in config_text, f"{name} not listed in wrangler.toml"
        assert f"secret put {name}" in deploy, f"{name} not in the README's deploy commands"
        assert f'"{name}"' in code, f"secret {name} is not read by the Worker"
    for name in container_dispatch.REQUIRED_SECRETS:
        assert name in secrets


def test_python_modules_layout_and_gitignore():
    assert "python_modules/" in (REPO / ".gitignore").read_text().split()
    excludes = WRANGLER["python_modules"]["exclude"]
    assert "**/*.pyc" in excludes
    # Every wrangler deploy (and --dry-run) vendors first and rebuilds the web UI.
    assert WRANGLER["build"]["command"].startswith("scripts/vendor_worker.sh && ")
    assert "npm run --silent build" in WRANGLER["build"]["command"]
    assert "scripts/deploy_check.sh" in (REPO / "scripts" / "test.sh").read_text()
    assert "deploy-check:" in (REPO / "Makefile").read_text()
    requirements = (REPO / "worker" / "requirements.txt").read_text()
    for name in ("starlette", "pyjwt", "filetype"):
        assert name in requirements


# -- the processor image ----------------------------------------------------------------------


def test_dockerfile_builds_from_the_repository_layout():
    df, problems = dockerfile_check.check(DOCKERFILE.read_text(), REPO)
    assert problems == []
    env = df.env()
    assert env["PROCESSOR_PORT"] == str(container_dispatch.PROCESSOR_PORT)
    assert env["PROCESSOR_HOST"] == "0.0.0.0" and env["PULL_ENABLED"] == "0"
    assert [i.args for i in df.all("EXPOSE")] == [str(container_dispatch.PROCESSOR_PORT)]
    [base] = df.all("FROM")
    match = re.match(r"python:(\d+)\.(\d+)", base.args)
    assert match and (int(match[1]), int(match[2])) >= (3, 11)  # pyproject requires-python
    apt = " ".join(i.args for i in df.all("RUN") if "apt-get install" in i.args)
    assert "ffmpeg" in apt.split()  # ffmpeg and ffprobe: container/processor/media/ffrun.py
    assert "libimage-exiftool-perl" in apt.split()  # exiftool: container/processor/media/metadata.py
    copies = {tuple(i.words()[:-1]): i.words()[-1] for i in df.all("COPY")}
    assert copies[("worker/src/mediagate",)] == "/app/mediagate"
    assert copies[("container/processor",)] == "/app/processor"


def test_dockerignore_sends_only_what_the_image_needs():
    rules = dockerfile_check.read_dockerignore(REPO)
    sent = [
        "container/requirements.txt",
        "container/processor/service.py",
        "container/processor/media/hls.py",
        "worker/src/mediagate/adapters/local/postgres.py",
    ]
    kept_out = [
        "data/jwt_secret",
        "node_modules/wrangler/package.json",
        ".venv/bin/python",
        "python_modules/jwt/__init__.py",
        "frontend/src/app.ts",
        "worker/src/mediagate/__pycache__/ports.cpython-311.pyc",
        "tests/conftest.py",
    ]
    for path in sent:
        assert not dockerfile_check.excluded(path, rules), path
    for path in kept_out:
        assert dockerfile_check.excluded(path, rules), path


def test_dockerfile_check_catches_mistakes(tmp_path):
    good = DOCKERFILE.read_text()
    cases = {
        "COPY source 'container/nope' does not exist": good.replace("COPY container/processor", "COPY container/nope"),
        "does not contain on PYTHONPATH": good.replace("processor.service", "processor.missing"),
        "has no tag": good.replace("python:3.11-slim-bookworm", "python"),
        "which no COPY put there": good.replace("-r /app/requirements.txt", "-r /app/other.txt"),
        "without --require-hashes": good.replace("--require-hashes ", ""),
        "pins no hash for fastapi>=0.115": good.replace(
            "COPY container/requirements.txt /app/requirements.txt",
            "COPY container/requirements.in /app/requirements.txt",
        ),
    }
    for expected, text in cases.items():
        _, problems = dockerfile_check.check(text, REPO)
        assert any(expected in p for p in problems), (expected, problems)
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "a.py").write_text("")
    (tmp_path / ".dockerignore").write_text("x\n")
    _, problems = dockerfile_check.check('FROM python:3.11\nCOPY x /x\nCMD ["true"]\n', tmp_path)
    assert any("excluded by .dockerignore" in p for p in problems)


def _module_file(name: str, roots: list[Path]) -> Path | None:
    rel = Path(*name.split("."))
    for root in roots:
        for candidate in (root / rel.with_suffix(".py"), root / rel / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


def _imports(path: Path, module: str) -> set[str]:
    """Absolute names of every module imported anywhere in a file (functions included)."""
    names: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                prefix = ".".join([*base, node.module] if node.module else base)
            else:
                prefix = node.module or ""
            names.add(prefix)
            names |= {f"{prefix}.{a.name}" for a in node.names}
    return names


def _requirement_names(path: Path) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(re.split(r"[\[<>=!~; ]", line, maxsplit=1)[0].lower().replace("_", "-"))
    return names


def _closure(names: set[str]) -> set[str]:
    """The requirements with their installed dependencies, recursively (canonical names)."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for req in requires:
            if "extra ==" in req and "binary" not in req:
                continue
            todo.append(re.split(r"[\[<>=!~; (]", req, maxsplit=1)[0].lower().replace("_", "-"))
    return seen


def test_every_processor_import_is_in_the_image():
    """Walk the processor's import graph from processor.service (local modules followed into
    container/processor and worker/src/mediagate, i.e. the two trees the image copies) and
    check each third-party import is installed by container/requirements.txt."""
    roots = [REPO / "container", WORKER_SRC]
    local_tops = {"processor", "mediagate"}
    stdlib = set(sys.stdlib_module_names)
    dist_of = metadata.packages_distributions()
    allowed = _closure(_requirement_names(REPO / "container" / "requirements.txt"))
    seen: set[str] = set()
    third_party: dict[str, str] = {}
    todo = ["processor.service", *(f"processor.{p.stem}" for p in (REPO / "container" / "processor").glob("*.py"))]
    todo += [f"processor.media.{p.stem}" for p in (REPO / "container" / "processor" / "media").glob("*.py")]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        path = _module_file(module, roots)
        if path is None:
            continue  # "package.Name" imports of attributes
        for name in _imports(path, module):
            top = name.split(".")[0]
            if top in local_tops:
                todo.append(name)
                assert _module_file(name, roots) or _module_file(name.rpartition(".")[0], roots), name
            elif top not in stdlib and top != "__future__":
                third_party.setdefault(top, module)
    assert {"fastapi", "uvicorn", "psycopg", "rawpy", "PIL", "numpy", "PyOpenColorIO", "boto3"} <= set(third_party)
    missing = {}
    for top, where in sorted(third_party.items()):
        dists = {d.lower().replace("_", "-") for d in dist_of.get(top, [])}
        if not dists & allowed:
            missing[top] = (where, sorted(dists))
    assert missing == {}, f"imported by the processor but not installed by container/requirements.txt: {missing}"
    # ... and the other way round: every direct dependency of the image is imported.
    imported = {d.lower().replace("_", "-") for top in third_party for d in dist_of.get(top, [])}
    unused = _requirement_names(REPO / "container" / "requirements.in") - imported
    assert unused == set(), f"container/requirements.in lists packages the processor never imports: {unused}"


def _pins(text: str) -> dict[str, str]:
    return {
        m[1].lower().replace("_", "-"): m[2]
        for m in re.finditer(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==(\S+)", text, re.MULTILINE)
    }


def test_container_lock_pins_every_input_with_hashes():
    """container/requirements.txt is the lock of container/requirements.in (`make lock`):
    every input pinned at a version its specifier allows, every line with hashes."""
    from packaging.requirements import Requirement

    lock_text = (REPO / "container" / "requirements.txt").read_text()
    assert dockerfile_check.unhashed_requirements(lock_text) == []
    pins = _pins(lock_text)
    assert len(pins) > 12  # the closure, not only the direct dependencies
    for line in (REPO / "container" / "requirements.in").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        name = req.name.lower().replace("_", "-")
        assert name in pins, f"{name} is not in the lock: run `make lock`"
        assert req.specifier.contains(pins[name]), f"{name}=={pins[name]} does not satisfy {req}: run `make lock`"
    assert "--require-hashes" in (REPO / "scripts" / "deploy_check.sh").read_text()


def test_dev_tools_are_pinned_exactly():
    for line in (REPO / "requirements-dev.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-r"):
            assert "==" in line, f"requirements-dev.txt: {line} is not pinned exactly"
    root = json.loads((REPO / "package.json").read_text())
    assert root["devDependencies"]["openapi-typescript"] == "7.13.0"


@pytest.mark.parametrize("module", ["processor.service", "processor.pipeline", "processor.storage"])
def test_processor_modules_exist_where_the_dockerfile_copies_them(module):
    path = _module_file(module, [REPO / "container"])
    assert path is not None and path.is_relative_to(REPO / "container" / "processor")
