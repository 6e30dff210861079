"""Settings read the environment and fail loudly; production values pass check --deploy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROD_SECRET = "prod-" + "k3y" * 20


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    dropped = {
        "SECRET_KEY",
        "DEBUG",
        "TAP_ENCRYPTION_KEY",
        "MFA_ENCRYPTION_KEYS",
        "DJANGO_ALLOW_ASYNC_UNSAFE",
    }
    base = {k: v for k, v in os.environ.items() if k not in dropped}
    base.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
    )


MFA_KEY = "bWZhLWtleS1mb3ItdGhlLXNldHRpbmdzLXRlc3RzLTE="
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": PROD_SECRET,
    "TAP_ENCRYPTION_KEY": "J4v0Z2l5bVZ1bHB6c1hlZ2Z0bGJjY2VzVGVzdGtleTE=",
    "MFA_ENCRYPTION_KEYS": MFA_KEY,
    "RP_HTTPS": "true",
    "ALLOWED_HOSTS": "recovery.contoso.example",
    "RP_HSTS_PRELOAD": "true",
}


def test_check_deploy_is_clean_with_production_values() -> None:
    # when
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    # then
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


def test_settings_refuse_debug_off_with_the_development_secret() -> None:
    # given production values but the development secret
    env = {**PRODUCTION}
    env.pop("SECRET_KEY")
    # when
    result = run_manage("check", **env)
    # then
    assert result.returncode != 0
    assert "development secret" in result.stderr


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DATABASE_URL", "mysql://u@h/db", "must point at PostgreSQL"),
        ("REDIS_URL", "http://localhost", "REDIS_URL must start with"),
        ("DEBUG", "maybe", "is not a boolean"),
        ("RP_SESSION_SECONDS", "ten", "is not a whole number"),
        ("GRAPH_CLOUD", "mars", "must be one of"),
        ("SECRET_KEY_FILE", "/nonexistent/secret", "cannot be read"),
    ],
)
def test_settings_fail_loudly_on_bad_values(name: str, value: str, message: str) -> None:
    # when
    result = run_manage("check", **{**PRODUCTION, name: value})
    # then
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


def test_production_needs_a_tap_encryption_key() -> None:
    env = {**PRODUCTION}
    env.pop("TAP_ENCRYPTION_KEY")
    result = run_manage("check", **env)
    assert result.returncode != 0
    assert "TAP_ENCRYPTION_KEY is required" in result.stderr


def test_secret_key_can_come_from_a_file(tmp_path: Path) -> None:
    # given
    secret = tmp_path / "secret"
    secret.write_text(PROD_SECRET + "\n")
    env = {**PRODUCTION, "SECRET_KEY_FILE": str(secret)}
    env.pop("SECRET_KEY")
    # when
    result = run_manage("check", **env)
    # then
    assert result.returncode == 0, result.stderr


def test_production_needs_the_key_that_encrypts_second_factors() -> None:
    # given production values without MFA_ENCRYPTION_KEYS
    env = {**PRODUCTION}
    env.pop("MFA_ENCRYPTION_KEYS")
    # when
    result = run_manage("check", **env)
    # then the start stops, saying what is missing and how to make it
    assert result.returncode != 0
    assert "ImproperlyConfigured: MFA_ENCRYPTION_KEYS is required" in result.stderr
    assert "Fernet.generate_key()" in result.stderr


def test_second_factor_keys_can_come_from_a_file_one_per_line(tmp_path: Path) -> None:
    # given two keys in a file, the new one first (a rotation under way)
    keys = tmp_path / "mfa_keys"
    keys.write_text(f"bmV3LWtleS1mb3ItdGhlLXNldHRpbmdzLXRlc3RzLTI=\n{MFA_KEY}\n")
    env = {**PRODUCTION, "MFA_ENCRYPTION_KEYS_FILE": str(keys)}
    env.pop("MFA_ENCRYPTION_KEYS")
    # when
    result = run_manage(
        "shell",
        "-c",
        "from django.conf import settings; print(len(settings.MFA_ENCRYPTION_KEYS))",
        **env,
    )
    # then
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "2"


def test_a_malformed_second_factor_key_stops_the_start() -> None:
    result = run_manage("check", **{**PRODUCTION, "MFA_ENCRYPTION_KEYS": f"{MFA_KEY},not-a-key"})
    assert result.returncode != 0
    assert "MFA_ENCRYPTION_KEYS: key 2 is not a Fernet key" in result.stderr
