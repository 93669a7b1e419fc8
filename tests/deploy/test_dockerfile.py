"""deploy/Dockerfile and the root .dockerignore: hadolint passes, the image is built the way the
deployment files assume (stages, user, health check, entrypoint, labels), and the build context
holds what the Dockerfile copies and nothing else of note.

There is no Docker daemon here, so the image itself is not built; the context is checked with
Docker's own .dockerignore rules (last match wins, `!` re-includes, a match on a parent
directory covers what is inside)."""

from __future__ import annotations

import json
import re
import tomllib
from functools import cache
from pathlib import Path

from tests.deploy.support import DEPLOY, REPO, output, run, venv_tool

DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    lines = [ln for ln in DOCKERFILE.read_text().splitlines() if not ln.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    pairs = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def runtime_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (kw, _) in enumerate(steps) if kw == "FROM")
    return steps[last_from:]


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out, i = out + pattern[i : end + 1], end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


@cache
def ignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for raw in DOCKERIGNORE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line.lstrip("!").strip().strip("/")
        rules.append((negated, _pattern_regex(pattern)))
    return rules


def in_context(path: str) -> bool:
    """Whether Docker sends `path` (relative to the context root) to the build."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for negated, regex in ignore_rules():
        if any(regex.fullmatch(candidate) for candidate in candidates):
            excluded = not negated
    return not excluded


def repository_files() -> list[str]:
    result = run(["git", "ls-files", "--cached", "--others", "--exclude-standard"])
    assert result.returncode == 0, output(result)
    return [line for line in result.stdout.splitlines() if (REPO / line).is_file()]


def test_hadolint_passes() -> None:
    result = run([venv_tool("hadolint"), DOCKERFILE])
    assert result.returncode == 0, output(result)


def test_hadolint_catches_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN apt-get install curl\n")
    result = run([venv_tool("hadolint"), bad])
    assert result.returncode != 0, output(result)
    assert "DL3006" in result.stdout, output(result)


def test_two_stages_on_python_311_slim() -> None:
    steps = instructions()
    froms = [args for kw, args in steps if kw == "FROM"]
    assert froms == ["${PYTHON_IMAGE} AS builder", "${PYTHON_IMAGE} AS runtime"]
    assert ("ARG", "PYTHON_IMAGE=python:3.11-slim") in steps
    copies_from_builder = [a for kw, a in runtime_stage() if kw == "COPY" and "--from=" in a]
    assert copies_from_builder == ["--from=builder /opt/venv /opt/venv"]


def test_runtime_runs_as_a_numeric_non_root_user() -> None:
    users = [args for kw, args in runtime_stage() if kw == "USER"]
    assert len(users) == 1
    uid, gid = users[0].split(":")
    assert int(uid) > 0 and int(gid) > 0


def test_entrypoint_is_the_console_script() -> None:
    stage = dict(runtime_stage())
    assert json.loads(stage["ENTRYPOINT"]) == ["surgewatch"]
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert "surgewatch" in project["scripts"]


def test_healthcheck_runs_the_shipped_probe() -> None:
    stage = runtime_stage()
    (healthcheck,) = [args for kw, args in stage if kw == "HEALTHCHECK"]
    command = json.loads(healthcheck.split(" CMD ", 1)[1])
    assert command[0] == "python"
    target = command[1]
    assert f"deploy/healthcheck.py {target}" in [args for kw, args in stage if kw == "COPY"]


def test_image_is_labelled() -> None:
    labels = " ".join(args for kw, args in runtime_stage() if kw == "LABEL")
    for key in ("title", "description", "version", "revision", "created", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels, key


def test_context_holds_what_the_dockerfile_copies() -> None:
    files = repository_files()
    sources = []
    for kw, args in instructions():
        if kw == "COPY" and "--from=" not in args:
            sources += args.split()[:-1]
    assert sources, "the Dockerfile copies nothing from the context"
    for source in sources:
        matching = [f for f in files if f == source or f.startswith(source.rstrip("/") + "/")]
        assert matching, f"{source} is not in the repository"
        missing = [f for f in matching if not in_context(f) and "__pycache__" not in f]
        assert missing == [], f".dockerignore drops files the image needs: {missing[:5]}"


def test_context_leaves_out_everything_else() -> None:
    for path in (
        ".git/HEAD",
        ".venv/bin/python",
        "var/surgewatch.db",
        "tests/conftest.py",
        "bench/__init__.py",
        "deploy/compose.yaml",
        "deploy/k8s/secret.example.yaml",
        "services/core/__pycache__/settings.cpython-311.pyc",
        ".env",
    ):
        assert not in_context(path), path
    kept = [f for f in repository_files() if in_context(f)]
    assert all(f == "pyproject.toml" or f.startswith(("services/", "deploy/")) for f in kept)


def test_dockerignore_matcher_follows_docker_rules() -> None:
    assert in_context("services/core/settings.py")
    assert in_context("services/core/migrations/versions/x.py")
    assert in_context("deploy/healthcheck.py")
    assert not in_context("deploy/Dockerfile")
    assert not in_context("deploy/k8s/kustomization.yaml")
