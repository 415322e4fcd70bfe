"""The container image, checked without a Docker engine: the Dockerfile passes hadolint and
keeps the rules a reviewer would check by eye, and the entrypoint starts every role."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from shared.settings import SERVICE_PORTS

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
ENTRYPOINT = ROOT / "deploy/container/entrypoint.sh"
BIN = Path(sys.executable).parent


def hadolint(dockerfile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "hadolint"), "--failure-threshold", "info", str(dockerfile)],
        capture_output=True,
        text=True,
        check=False,
    )


def instructions(text: str) -> list[tuple[str, str]]:
    """(instruction, arguments) of a Dockerfile, continuation lines joined."""
    joined = re.sub(r"\\\n", " ", text)
    lines = [line.strip() for line in joined.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def test_the_dockerfile_passes_hadolint() -> None:
    result = hadolint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_catches_an_unpinned_base_and_a_root_user(tmp_path: Path) -> None:
    """The linter is not a check that cannot fail."""
    broken = tmp_path / "Dockerfile"
    broken.write_text("FROM python:latest\nUSER root\nRUN pip install fastapi\n")

    result = hadolint(broken)

    assert result.returncode != 0
    assert "DL3007" in result.stdout  # the latest tag
    assert "DL3002" in result.stdout  # the last user is root
    assert "DL3013" in result.stdout  # pip install without a version


def test_every_stage_starts_from_the_base_pinned_by_digest_with_its_tag() -> None:
    steps = instructions(DOCKERFILE.read_text())
    base = next(args for name, args in steps if name == "ARG" and args.startswith("PYTHON_IMAGE="))
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11-slim-[a-z]+@sha256:[0-9a-f]{64}", base)
    stages = [args for name, args in steps if name == "FROM"]
    assert stages
    assert all(stage.startswith("${PYTHON_IMAGE} AS ") for stage in stages)


def test_the_image_runs_as_a_numeric_non_root_user() -> None:
    """Kubernetes' runAsNonRoot can only verify a numeric user."""
    steps = instructions(DOCKERFILE.read_text())
    final = max(i for i, (name, _) in enumerate(steps) if name == "FROM")
    users = [args for name, args in steps[final:] if name == "USER"]
    assert users
    uid = users[-1].split(":")[0]
    assert uid.isdigit()
    assert int(uid) != 0


def test_the_image_finds_every_package_where_the_project_declares_it() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    roots = pyproject["tool"]["setuptools"]["packages"]["find"]["where"]
    expected = [str(Path("/app") / root).removesuffix("/.") for root in roots]
    steps = instructions(DOCKERFILE.read_text())
    env = " ".join(args for name, args in steps if name == "ENV")
    pythonpath = re.search(r"PYTHONPATH=(\S+)", env)
    assert pythonpath is not None
    assert pythonpath.group(1).split(":") == expected


def test_the_build_context_holds_what_the_dockerfile_copies_and_nothing_else() -> None:
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in ignore  # an allow-list: everything else stays out
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    steps = instructions(DOCKERFILE.read_text())
    copied = [
        source.rstrip("/")
        for name, args in steps
        if name == "COPY" and not args.startswith("--from")
        for source in args.split()[:-1]
    ]
    assert copied
    for source in copied:
        assert any(source == a or source.startswith(a + "/") for a in allowed), source
    assert not {"tests", "bench", ".local", ".venv", ".git"} & allowed


def test_the_entrypoint_passes_shellcheck() -> None:
    result = subprocess.run(
        [str(BIN / "shellcheck"), str(ENTRYPOINT)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout


@pytest.fixture
def fake_python(tmp_path: Path) -> dict[str, str]:
    """A ``python`` that prints how it was called, first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "python"
    fake.write_text('#!/bin/sh\necho "python $*"\n')
    fake.chmod(0o755)
    return {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "OUTREACH_APP_DIR": str(ROOT),
        "OUTREACH_HTTP_PORT": "8080",
    }


def start(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [shutil.which("sh") or "/bin/sh", str(ENTRYPOINT), *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("service", sorted(SERVICE_PORTS))
@pytest.mark.parametrize("role", ["all", "worker", "api"])
def test_each_service_starts_in_each_role_as_one_server_process(
    fake_python: dict[str, str], service: str, role: str
) -> None:
    result = start({**fake_python, "OUTREACH_PROCESS_ROLE": role}, service)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "python",
        "-m",
        "uvicorn",
        f"{service}.main:create_app",
        "--factory",
        "--host",
        "0.0.0.0",
        "--port",
        "8080",
        "--no-access-log",
    ]


def test_an_api_container_may_serve_its_port_from_several_processes(
    fake_python: dict[str, str],
) -> None:
    env = {**fake_python, "OUTREACH_PROCESS_ROLE": "api", "OUTREACH_API_WORKERS": "3"}

    result = start(env, "visits")

    assert result.stdout.split() == [
        "python",
        "-m",
        "shared.runtime.serve",
        "visits.main:create_app",
        "--host",
        "0.0.0.0",
        "--port",
        "8080",
        "--workers",
        "3",
    ]


def test_any_other_command_runs_as_given(fake_python: dict[str, str]) -> None:
    result = start(fake_python, "python", "-m", "contacts.retention", "run", "--dry-run")

    assert result.stdout.strip() == "python -m contacts.retention run --dry-run"


def test_without_a_command_the_entrypoint_names_the_services(
    fake_python: dict[str, str],
) -> None:
    result = start(fake_python)

    assert result.returncode == 64
    assert all(f"service: {name}" in result.stderr for name in SERVICE_PORTS)
