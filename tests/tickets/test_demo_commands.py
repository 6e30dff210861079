from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


def test_demo_totp_is_refused_outside_demo_mode(settings) -> None:  # type: ignore[no-untyped-def]
    settings.DEMO_MODE = False
    with pytest.raises(CommandError, match="refused outside demo mode"):
        call_command("demo_totp")


def test_seed_demo_is_refused_outside_demo_mode(settings) -> None:  # type: ignore[no-untyped-def]
    settings.DEMO_MODE = False
    with pytest.raises(CommandError, match="only in demo mode"):
        call_command("seed_demo")


def test_seed_demo_enrols_each_role_and_demo_totp_prints_their_codes(settings, capsys) -> None:  # type: ignore[no-untyped-def]
    # given
    settings.DEMO_MODE = True
    # when
    call_command("seed_demo")
    call_command("seed_demo")  # a second run (second `make run`) changes nothing
    call_command("demo_totp")
    # then
    out = capsys.readouterr().out
    for username in ("agent", "approver", "security", "auditor"):
        line = next(x for x in out.splitlines() if x.startswith(f"{username} "))
        assert line.split()[1].isdigit() and len(line.split()[1]) == 6
