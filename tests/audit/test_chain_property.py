"""Whatever text and JSON an event carries, the verifier re-creates exactly what the writer
hashed (jsonb's rendering, timestamps, escaping)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit import log
from audit.actions import Action
from audit.verify import verify_chain

pytestmark = pytest.mark.django_db

# Any code point, NUL and lone surrogates included: record() must store something valid.
text = st.text(alphabet=st.characters(codec=None), max_size=40)
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    action=st.sampled_from(list(Action)),
    subject=text,
    reason=text,
    data=st.dictionaries(text, json_values, max_size=5),
    personal=st.dictionaries(text, json_values, max_size=3),
)
def test_any_event_content_verifies(db, action, subject, reason, data, personal) -> None:  # type: ignore[no-untyped-def]
    # given / when
    try:
        log.record(action, subject=subject, reason=reason, data=data, personal=personal)
    except log.SecretInAuditEvent:
        return
    # then
    report = verify_chain()
    assert report.ok, report.broken
