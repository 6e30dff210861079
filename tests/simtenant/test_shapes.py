"""The simulated tenant and Microsoft Graph agree on field names, operation by operation.

The recorded answers (tests/simtenant/recorded/) are Microsoft's published examples, each naming
its source page. The docs shorten some examples: those are compared as "subset" (every field
Microsoft shows must be in the simulator's answer); complete ones as "equal". OData context
annotations are left out: the docs keep them inconsistently.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from graphops.credential import MsalCredential

pytestmark = pytest.mark.django_db
RECORDED = sorted((Path(__file__).parent / "recorded").glob("*.json"))


def shape(value: Any) -> Any:
    """Field names only, recursively; a list is represented by its first item."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items() if "@odata.context" not in k}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return None


def missing_or_extra(recorded: Any, simulated: Any, *, equal: bool, at: str = "") -> list[str]:
    if isinstance(recorded, dict) and isinstance(simulated, dict):
        problems = [f"{at}.{k} missing" for k in recorded if k not in simulated]
        if equal:
            problems += [f"{at}.{k} not in Graph's answer" for k in simulated if k not in recorded]
        for key in recorded.keys() & simulated.keys():
            problems += missing_or_extra(
                recorded[key], simulated[key], equal=equal, at=f"{at}.{key}"
            )
        return problems
    if isinstance(recorded, list) and isinstance(simulated, list) and recorded and simulated:
        return missing_or_extra(recorded[0], simulated[0], equal=equal, at=f"{at}[0]")
    return []


def simulator_answer(simtenant, spec: dict[str, Any]) -> tuple[int, Any]:  # type: ignore[no-untyped-def]
    session = requests.Session()
    session.trust_env = False
    token = MsalCredential().get_token("https://graph.microsoft.com/.default").token
    response = session.request(
        spec["method"],
        f"{simtenant.url}{spec['path']}",
        json=spec.get("body"),
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    body = response.json()
    if "pick_type" in spec:
        body = next(m for m in body["value"] if m.get("@odata.type") == spec["pick_type"])
    return response.status_code, body


@pytest.mark.parametrize("path", RECORDED, ids=[p.stem for p in RECORDED])
def test_simulated_tenant_field_names_match_recorded_graph_answers(simtenant, path):
    # given
    sample = json.loads(path.read_text())
    # when
    status, answer = simulator_answer(simtenant, sample["simulator_request"])
    # then
    assert status == sample["simulator_request"]["status"]
    problems = missing_or_extra(
        shape(sample["response"]), shape(answer), equal=sample["compare"] == "equal"
    )
    assert problems == [], f"{sample['source']}: {problems}"
