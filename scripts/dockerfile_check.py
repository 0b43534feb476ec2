#!/usr/bin/env python3
"""Static check of container/Dockerfile against the repository, and a stand-in ``docker``
for ``wrangler deploy --dry-run`` on machines without a Docker engine.

There is no Docker engine here, so the image cannot be built. What can be checked without
one is checked: the Dockerfile parses, its base image is pinned to a tag, every COPY/ADD
source exists in the build context and is not excluded by .dockerignore, the requirements
file it installs is the one it copies and a lock (every package pinned with hashes, pip
run with --require-hashes), the command it runs is a module that the image
contains. ``tests/test_deploy_config.py`` uses the same functions and adds the import
check (every module the processor imports is covered by container/requirements.txt).

Used as ``WRANGLER_DOCKER_BIN`` by scripts/deploy_check.sh, it answers the two calls
``wrangler deploy --dry-run`` makes: ``docker info`` (succeeds, saying it is a static
checker) and ``docker build ... -f - <context>`` (runs the static check on the Dockerfile
wrangler pipes on stdin and the context wrangler names, prints the exact build command,
and fails on any problem). It builds nothing and says so; every other docker command fails.

Usage: dockerfile_check.py [check [Dockerfile [context]]] | info | build ARGS...
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Instruction:
    keyword: str
    args: str
    line: int

    def words(self) -> list[str]:
        text = self.args.strip()
        if text.startswith("["):
            import json

            return list(json.loads(text))
        return shlex.split(text, comments=False, posix=True)


@dataclass
class Dockerfile:
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for ins in self.all("ENV"):
            for word in ins.words():
                if "=" in word:
                    k, v = word.split("=", 1)
                    values[k] = v
        return values


def parse(text: str) -> Dockerfile:
    """Instructions with continuation lines joined and comments dropped."""
    out = Dockerfile()
    buf: list[str] = []
    start = 0
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip()
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if buf and line.lstrip().startswith("#"):
            continue  # comment lines inside a continued instruction are skipped
        if not buf:
            start = n
        if line.endswith("\\"):
            buf.append(line[:-1])
            continue
        buf.append(line)
        joined = " ".join(part.strip() for part in buf)
        buf = []
        keyword, _, args = joined.partition(" ")
        out.instructions.append(Instruction(keyword.upper(), args.strip(), start))
    if buf:
        raise ValueError("Dockerfile ends inside a continued line")
    return out


# -- .dockerignore ---------------------------------------------------------------------------


def read_dockerignore(context: Path) -> list[tuple[bool, str]]:
    """(negated, pattern) rules, cleaned like Docker does (leading / and trailing / dropped)."""
    path = context / ".dockerignore"
    rules: list[tuple[bool, str]] = []
    if not path.exists():
        return rules
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = os.path.normpath(line[1:].strip() if negated else line).lstrip("/")
        rules.append((negated, pattern))
    return rules


def _match(pattern: str, path: str) -> bool:
    """Docker's pattern semantics: filepath.Match per segment, ``**`` for any depth."""
    regex = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            regex += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            regex += ".*"
            i += 2
        else:
            ch = pattern[i]
            if ch == "*":
                regex += "[^/]*"
            elif ch == "?":
                regex += "[^/]"
            else:
                regex += re.escape(ch)
            i += 1
    return re.fullmatch(regex, path) is not None or (fnmatch.fnmatchcase(path, pattern) and "/" not in pattern)


def excluded(rel_path: str, rules: list[tuple[bool, str]]) -> bool:
    """Whether a file is left out of the context: the last rule matching the file or one of
    its parent directories decides."""
    parts = rel_path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    result = False
    for negated, pattern in rules:
        if any(_match(pattern, p) for p in prefixes):
            result = not negated
    return result


# -- the check ---------------------------------------------------------------------------------


def unhashed_requirements(text: str) -> list[str]:
    """Requirements of a pip requirements file that are not pinned (``==``) with a hash."""
    entries: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        current += " " + line.rstrip("\\").strip()
        if line.endswith("\\"):
            continue
        entry, current = current.strip(), ""
        if entry and not entry.startswith("-"):
            entries.append(entry)
    return [e.split()[0] for e in entries if "==" not in e.split()[0] or "--hash=" not in e]


def check(dockerfile_text: str, context: Path) -> tuple[Dockerfile, list[str]]:
    """Problems found in a Dockerfile for a build context (empty list: none)."""
    problems: list[str] = []
    try:
        df = parse(dockerfile_text)
    except ValueError as exc:
        return Dockerfile(), [str(exc)]
    if not df.instructions or df.instructions[0].keyword not in ("FROM", "ARG"):
        problems.append("the first instruction must be FROM")
    froms = df.all("FROM")
    if not froms:
        problems.append("no FROM")
    for ins in froms:
        image = ins.words()[0]
        if ":" not in image.split("/")[-1] and "@sha256:" not in image:
            problems.append(f"line {ins.line}: base image {image!r} has no tag")
    rules = read_dockerignore(context)
    copied: dict[str, str] = {}  # destination -> source
    workdir = "/"
    for ins in df.instructions:
        if ins.keyword == "WORKDIR":
            workdir = os.path.join(workdir, ins.words()[0])
        if ins.keyword not in ("COPY", "ADD"):
            continue
        words = [w for w in ins.words() if not w.startswith("--")]
        if any(w.startswith("--from") for w in ins.words()):
            continue
        if len(words) < 2:
            problems.append(f"line {ins.line}: {ins.keyword} needs a source and a destination")
            continue
        *sources, dest = words
        for src in sources:
            path = context / src
            if not path.exists():
                problems.append(f"line {ins.line}: {ins.keyword} source {src!r} does not exist in the build context")
                continue
            files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
            sent = [f for f in files if not excluded(f.relative_to(context).as_posix(), rules)]
            if not sent:
                problems.append(f"line {ins.line}: {ins.keyword} source {src!r} is excluded by .dockerignore")
            target = dest if dest.startswith("/") else os.path.join(workdir, dest)
            copied[os.path.normpath(target)] = src
    # pip install -r <file>: the file must be one that was copied in, and a lock: pip checks
    # every file it installs against the file's hashes (reproducible builds).
    for ins in df.all("RUN"):
        if "pip install" in ins.args and "--require-hashes" not in ins.args:
            problems.append(f"line {ins.line}: pip install without --require-hashes (install from the lock file)")
        for match in re.finditer(r"-r\s+(\S+)", ins.args):
            req = match.group(1)
            target = os.path.normpath(req if req.startswith("/") else os.path.join(workdir, req))
            if target not in copied:
                problems.append(f"line {ins.line}: pip installs {req!r}, which no COPY put there")
            elif (context / copied[target]).is_file():
                unhashed = unhashed_requirements((context / copied[target]).read_text())
                if unhashed:
                    problems.append(f"line {ins.line}: {copied[target]} pins no hash for {', '.join(unhashed)}")
    # The command: python -m <module> must be a module inside a copied tree on PYTHONPATH.
    cmds = df.all("CMD")
    if not cmds:
        problems.append("no CMD")
    else:
        words = cmds[-1].words()
        if "-m" in words:
            module = words[words.index("-m") + 1]
            roots = [p for p in df.env().get("PYTHONPATH", workdir).split(":") if p]
            found = False
            for root in roots:
                for dest, src in copied.items():
                    rel = module.replace(".", "/")
                    for candidate in (rel + ".py", rel + "/__main__.py"):
                        target = os.path.normpath(os.path.join(root, candidate))
                        if target.startswith(dest + "/") and (context / src / os.path.relpath(target, dest)).is_file():
                            found = True
            if not found:
                problems.append(f"CMD runs module {module!r}, which the image does not contain on PYTHONPATH")
    return df, problems


# -- the docker stand-in ----------------------------------------------------------------------------


def _build(argv: list[str]) -> int:
    """``docker build ... -f - <context>`` as wrangler calls it, Dockerfile on stdin."""
    print("dockerfile_check: static check instead of `docker build` (no Docker engine here): nothing is built")
    print("  wrangler would run: docker " + shlex.join(["build", *argv]))
    context_arg = argv[-1]
    dockerfile_arg = argv[argv.index("-f") + 1] if "-f" in argv else None
    text = sys.stdin.read() if dockerfile_arg in (None, "-") else Path(dockerfile_arg).read_text()
    context = Path(context_arg).resolve()
    _, problems = check(text, context)
    if "--platform" in argv and argv[argv.index("--platform") + 1] != "linux/amd64":
        problems.append("Cloudflare Containers run linux/amd64 images")
    if problems:
        print("dockerfile_check: the image would not build:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    print(f"  context {context}: every COPY source present and sent; CMD module present")
    return 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] == "check":
        dockerfile = Path(argv[1]) if len(argv) > 1 else REPO / "container" / "Dockerfile"
        context = Path(argv[2]) if len(argv) > 2 else REPO
        _, problems = check(dockerfile.read_text(), context)
        for p in problems:
            print(p, file=sys.stderr)
        return 1 if problems else 0
    if argv[0] == "info":
        print("dockerfile_check: static Dockerfile checker standing in for docker (no engine, builds nothing)")
        return 0
    if argv[0] == "build":
        return _build(argv[1:])
    if argv[:2] == ["image", "rm"] or argv[0] == "rmi":
        return 0  # wrangler removing the local tag it "built": there is none
    print(f"dockerfile_check: `docker {shlex.join(argv)}` is not available: there is no Docker engine", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
