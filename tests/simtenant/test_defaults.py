"""The portal's settings name the simulated tenant as configuration, with the values the
simulator starts with (simtenant/defaults.py), so that a portal with no tenant configured and a
simulator started with no options recognise each other."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from simtenant import defaults

ROOT = Path(__file__).resolve().parents[2]
CONFIGURED = ("GRAPH_", "CA_EXCLUSION_", "TENANT_DOMAINS", "SIMTENANT_")


def unconfigured_env(**extra: str) -> dict[str, str]:
    """The test environment without any tenant configuration, as the README's first run."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith(CONFIGURED)}
    return {**kept, "DJANGO_SETTINGS_MODULE": "recovery_portal.settings", **extra}


def test_settings_default_to_the_simulators_identity():
    # given a portal started with no tenant configured
    script = textwrap.dedent(
        """
        import json
        from django.conf import settings
        names = ["GRAPH_CLOUD", "GRAPH_TENANT_ID", "GRAPH_CLIENT_ID", "GRAPH_CLIENT_SECRET",
                 "CA_EXCLUSION_GROUP_ID", "TENANT_DOMAINS"]
        print(json.dumps({name: getattr(settings, name) for name in names}))
        """
    )
    # when
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=unconfigured_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    # then
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "GRAPH_CLOUD": "simulated",
        "GRAPH_TENANT_ID": defaults.SIM_TENANT_ID,
        "GRAPH_CLIENT_ID": defaults.SIM_CLIENT_ID,
        "GRAPH_CLIENT_SECRET": defaults.SIM_CLIENT_SECRET,
        "CA_EXCLUSION_GROUP_ID": defaults.SIM_EXCLUSION_GROUP_ID,
        "TENANT_DOMAINS": [defaults.SIM_DOMAIN],
    }


def test_a_portal_told_only_where_the_simulator_is_passes_graph_check(simtenant_process):
    # given a fresh simulator and a portal given its addresses and nothing else
    simtenant_process.reset()
    env = unconfigured_env(**simtenant_process.env)
    # when
    result = subprocess.run(
        [sys.executable, "manage.py", "graph_check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # then the credential, the permissions, the policy and the exclusion group all check out
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All green" in result.stdout
    assert "FAIL" not in result.stdout
