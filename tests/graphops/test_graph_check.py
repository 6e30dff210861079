"""manage.py graph_check against the simulated tenant."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


def _check(capsys) -> tuple[str, bool]:  # type: ignore[no-untyped-def]
    try:
        call_command("graph_check")
    except CommandError:
        return capsys.readouterr().out, False
    return capsys.readouterr().out, True


def test_graph_check_all_green(simtenant, capsys):
    # when
    out, ok = _check(capsys)
    # then
    assert ok
    assert "FAIL" not in out
    assert "All green" in out
    assert "User.RevokeSessions.All: can revoke sign-in sessions" in out


def test_graph_check_names_a_withheld_permission(simtenant, capsys):
    # given
    simtenant.withhold("User.RevokeSessions.All")
    # when
    out, ok = _check(capsys)
    # then
    assert not ok
    assert "Missing application permission User.RevokeSessions.All" in out
    assert "Grant admin consent" in out
    assert out.count("FAIL") == 1


def test_graph_check_accepts_a_higher_permission_instead(simtenant, capsys):
    # given
    simtenant.withhold("User.Read.All")
    simtenant.grant("Directory.Read.All")
    # when
    out, ok = _check(capsys)
    # then
    assert ok, out


def test_graph_check_reports_the_tap_policy_off(simtenant, capsys):
    # given
    simtenant.tap_policy(state="disabled")
    # when
    out, ok = _check(capsys)
    # then
    assert not ok
    assert "Temporary Access Pass method is disabled" in out


def test_graph_check_reports_a_refused_credential(simtenant, capsys, settings):
    # given
    settings.GRAPH_CLIENT_SECRET = "not-the-secret"
    # when
    out, ok = _check(capsys)
    # then
    assert not ok
    assert "invalid_client" in out
    assert "not-the-secret" not in out


def test_graph_check_reports_a_missing_exclusion_group(simtenant, capsys, settings):
    # given
    settings.CA_EXCLUSION_GROUP_ID = "00000000-0000-0000-0000-000000000001"
    # when
    out, ok = _check(capsys)
    # then
    assert not ok
    assert "Cannot read the group 00000000-0000-0000-0000-000000000001" in out
