"""docker-compose.yml is valid (no engine needed for `docker-compose config`)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def compose_bin() -> str:
    path = shutil.which("docker-compose")
    if path is None:
        pytest.fail("docker-compose (Debian package) is required by the test command")
    return path


def test_compose_file_validates(compose_bin: str) -> None:
    result = subprocess.run(
        [compose_bin, "-f", "docker-compose.yml", "config", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_compose_runs_every_part(compose_bin: str) -> None:
    result = subprocess.run(
        [compose_bin, "-f", "docker-compose.yml", "config", "--services"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    services = set(result.stdout.split())
    assert {"postgres", "redis", "web", "worker", "beat", "simtenant"} <= services
