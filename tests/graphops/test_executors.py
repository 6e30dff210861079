"""Every operation, run as a worker runs it, with the real msal and msgraph-sdk over HTTP
against the simulated tenant: results, and Graph's refusals mapped to the ledger."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from django.utils import timezone

from graphops import operations
from graphops.models import GraphOperation, Kind, OpStatus
from simtenant.seed import object_id
from simtenant.shapes import ROLE_NAMES

pytestmark = pytest.mark.django_db

MARIO = "mario.rossi@contoso.example"
NADIA = "nadia.haddad@contoso.example"
GROUP = "b8d3a1f0-5c2e-4d9a-9f7b-3e6c1a2d4b5c"


def _request(kind: Kind, upn: str = MARIO, **params: object) -> GraphOperation:
    return operations.request_operation(kind, target_upn=upn, params=params, correlation="RP-X1")


def test_directory_lookup_returns_user_manager_roles_and_methods(simtenant, run_operation):
    # given
    operation = _request(Kind.DIRECTORY_LOOKUP)
    # when
    done = run_operation(operation)
    # then
    assert done.status == OpStatus.SUCCEEDED
    assert done.result["user"]["displayName"] == "Mario Rossi"
    assert done.result["user"]["onPremisesSyncEnabled"] is True
    assert done.result["manager"]["userPrincipalName"] == "giulia.bianchi@contoso.example"
    assert done.result["is_privileged"] is False
    assert {m["type"] for m in done.result["methods"]} == {
        "password",
        "microsoftAuthenticator",
        "phone",
    }
    assert done.target_user_id == object_id("mario.rossi")
    assert done.graph_request_ids


@pytest.mark.parametrize(
    ("upn", "role", "via"),
    [
        ("david.chen@contoso.example", "Global Administrator", "direct"),
        ("emma.johnson@contoso.example", "Helpdesk Administrator", "eligible"),
        ("kenji.tanaka@contoso.example", "Privileged Authentication Administrator", "group:"),
    ],
)
def test_check_privileged_finds_direct_eligible_and_group_roles(
    simtenant, run_operation, upn, role, via
):
    # when
    done = run_operation(_request(Kind.CHECK_PRIVILEGED, upn))
    # then
    assert done.result["is_privileged"] is True
    assert done.result["privileged_roles"][0]["displayName"] == role
    assert done.result["privileged_roles"][0]["via"].startswith(via)
    assert done.result["privileged_roles"][0]["templateId"] in ROLE_NAMES


def test_get_manager_of_the_top_of_the_tree_is_none(simtenant, run_operation):
    # when
    done = run_operation(_request(Kind.GET_MANAGER, "sofia.garcia@contoso.example"))
    # then
    assert done.status == OpStatus.SUCCEEDED
    assert done.result == {"manager": None}


def test_lookup_user_unknown_fails_with_a_clear_reason(simtenant, run_operation):
    # when
    done = run_operation(_request(Kind.LOOKUP_USER, "nobody@contoso.example"))
    # then
    assert done.status == OpStatus.FAILED
    assert done.error_code == "Request_ResourceNotFound"
    assert "Not found in the directory" in done.error_message
    assert done.retryable is False


def test_list_methods_returns_types(simtenant, run_operation):
    # when
    done = run_operation(_request(Kind.LIST_METHODS, NADIA))
    # then
    phones = [m for m in done.result["methods"] if m["type"] == "phone"]
    assert sorted(p["phoneType"] for p in phones) == ["alternateMobile", "mobile", "office"]


def test_issue_tap_seals_the_pass_and_the_tenant_holds_it(simtenant, run_operation):
    # given
    operation = _request(Kind.ISSUE_TAP, lifetime_minutes=120, one_time=True)
    # when
    done = run_operation(operation)
    # then
    assert done.status == OpStatus.SUCCEEDED
    assert done.result["lifetime_minutes"] == 120 and done.result["is_usable_once"] is True
    assert "temporaryAccessPass" not in str(done.result)
    value = operations.reveal_secret(done)
    assert done.secret_ciphertext == ""
    tenant_tap = simtenant.user(MARIO)["tap"]
    assert tenant_tap["id"] == done.result["tap_id"]
    assert tenant_tap["value_sha256"] == hashlib.sha256(value.encode()).hexdigest()


def test_issue_tap_fits_the_lifetime_into_the_policy(simtenant, run_operation):
    # given a policy of 60–240 minutes
    simtenant.tap_policy(minimumLifetimeInMinutes=60, maximumLifetimeInMinutes=240)
    # when
    done = run_operation(_request(Kind.ISSUE_TAP, lifetime_minutes=1000))
    # then
    assert done.result["lifetime_minutes"] == 240
    assert done.result["policy"]["maximumLifetimeInMinutes"] == 240


def test_issue_tap_with_policy_off_fails_in_admin_words(simtenant, run_operation):
    # given
    simtenant.tap_policy(state="disabled")
    # when
    done = run_operation(_request(Kind.ISSUE_TAP))
    # then
    assert done.status == OpStatus.FAILED
    assert done.error_code == "tap_policy_disabled"
    assert "Temporary Access Pass method is off" in done.error_message
    assert simtenant.user(MARIO)["taps_issued"] == 0


def test_issue_tap_refuses_a_guest(simtenant, run_operation):
    # when
    done = run_operation(
        _request(Kind.ISSUE_TAP, "sam.taylor_fabrikam.example#EXT#@contoso.example")
    )
    # then
    assert done.status == OpStatus.FAILED
    assert done.error_code == "guest_user"


def test_delete_methods_by_type_deletes_in_an_order_graph_accepts(simtenant, run_operation):
    # given: mario's default method is the Authenticator app, refused while others remain
    operation = _request(Kind.DELETE_METHODS, method_types=["microsoftAuthenticator", "phone"])
    # when
    done = run_operation(operation)
    # then
    assert done.status == OpStatus.SUCCEEDED
    assert len(done.result["deleted"]) == 2
    assert [m["type"] for m in simtenant.user(MARIO)["methods"]] == ["passwordAuthenticationMethod"]


def test_delete_methods_reports_a_method_already_gone(simtenant, run_operation):
    # given
    operation = _request(Kind.DELETE_METHODS, method_ids=["3179e48a-750b-4051-897c-87b9720928f7"])
    first = run_operation(operation)
    again = _request(Kind.DELETE_METHODS, method_ids=["3179e48a-750b-4051-897c-87b9720928f7"])
    # when
    second = run_operation(again)
    # then
    assert first.result["deleted"] == ["3179e48a-750b-4051-897c-87b9720928f7"]
    assert second.status == OpStatus.SUCCEEDED
    assert second.result["deleted"] == [] and second.result["already_gone"] == []


def test_delete_methods_refused_default_fails_with_what_was_done(simtenant, run_operation):
    # given: only the default method (Authenticator) is asked for, the phone stays
    operation = _request(Kind.DELETE_METHODS, method_types=["microsoftAuthenticator"])
    # when
    done = run_operation(operation)
    # then
    assert done.status == OpStatus.FAILED
    assert done.error_code == "method_delete_refused"
    assert "default authentication method" in done.error_message
    assert done.result["refused"][0]["type"] == "microsoftAuthenticator"


def test_require_reregistration_removes_phones_alternate_before_mobile(simtenant, run_operation):
    # when
    done = run_operation(_request(Kind.REQUIRE_REREGISTRATION, NADIA))
    # then
    assert done.status == OpStatus.SUCCEEDED
    assert done.result["deleted"][-1] == "3179e48a-750b-4051-897c-87b9720928f7"  # mobile last
    assert [m["type"] for m in simtenant.user(NADIA)["methods"]] == ["passwordAuthenticationMethod"]


def test_revoke_sessions_is_recorded_by_the_tenant(simtenant, run_operation):
    # when
    done = run_operation(_request(Kind.REVOKE_SESSIONS))
    # then
    assert done.result == {"revoked": True}
    assert len(simtenant.user(MARIO)["sessions_revoked"]) == 1


def test_ca_exclusion_adds_then_its_removal_row_removes(simtenant, run_operation):
    # given
    add = _request(Kind.ADD_CA_EXCLUSION, minutes=30)
    removal = GraphOperation.objects.get(
        kind=Kind.REMOVE_CA_EXCLUSION, params__add_operation_id=str(add.pk)
    )
    # when
    run_operation(add)
    member_after_add = object_id("mario.rossi") in simtenant.state()["groups"][GROUP]["members"]
    GraphOperation.objects.filter(pk=removal.pk).update(not_before=timezone.now())
    run_operation(removal)
    # then
    assert member_after_add
    assert object_id("mario.rossi") not in simtenant.state()["groups"][GROUP]["members"]
    removal.refresh_from_db()
    assert removal.result["removed"] is True


def test_add_ca_exclusion_twice_is_success(simtenant, run_operation):
    # given
    run_operation(_request(Kind.ADD_CA_EXCLUSION, minutes=30))
    # when
    second = run_operation(_request(Kind.ADD_CA_EXCLUSION, minutes=30))
    # then
    assert second.status == OpStatus.SUCCEEDED
    assert second.result["added"] is False


def test_add_ca_exclusion_after_its_window_refuses(simtenant, run_operation):
    # given
    add = _request(Kind.ADD_CA_EXCLUSION, minutes=5)
    past = (timezone.now() - dt.timedelta(minutes=1)).isoformat()
    GraphOperation.objects.filter(pk=add.pk).update(params={**add.params, "expires_at": past})
    # when
    done = run_operation(add)
    # then
    assert done.status == OpStatus.FAILED
    assert done.error_code == "exclusion_window_over"


def test_read_tap_policy(simtenant, run_operation):
    # given
    simtenant.tap_policy(isUsableOnce=True, defaultLifetimeInMinutes=90)
    # when
    done = run_operation(operations.request_operation(Kind.READ_TAP_POLICY, target_upn=""))
    # then
    assert done.result["policy"]["isUsableOnce"] is True
    assert done.result["policy"]["defaultLifetimeInMinutes"] == 90


def test_check_new_methods_sees_a_method_registered_after_the_tap(simtenant, run_operation):
    # given
    tap = run_operation(_request(Kind.ISSUE_TAP))
    since = timezone.now().isoformat()
    simtenant.tap_event(MARIO, "use")
    simtenant.register_method(MARIO, "microsoftAuthenticator", displayName="iPhone 16")
    # when
    done = run_operation(_request(Kind.CHECK_NEW_METHODS, since=since, tap_id=tap.result["tap_id"]))
    # then
    assert done.result["has_new_method"] is True
    assert done.result["new_methods"][0]["displayName"] == "iPhone 16"
    assert done.result["tap_state"] == "used"
    assert done.result["tap_expired_unused"] is False


def test_check_new_methods_tells_a_tap_expired_unused(simtenant, run_operation):
    # given
    tap = run_operation(_request(Kind.ISSUE_TAP))
    known = [m["id"] for m in simtenant.user(MARIO)["methods"]]
    simtenant.tap_event(MARIO, "expire")
    # when
    done = run_operation(
        _request(Kind.CHECK_NEW_METHODS, since=tap.result["created_at"], known_method_ids=known)
    )
    # then
    assert done.result["has_new_method"] is False
    assert done.result["tap_state"] == "expired"
    assert done.result["tap_expired_unused"] is True


def test_rejected_token_fails_retryable(simtenant, run_operation):
    # given
    simtenant.reject_tokens()
    # when
    done = run_operation(_request(Kind.LOOKUP_USER))
    # then
    assert done.status == OpStatus.FAILED
    assert done.error_code == "InvalidAuthenticationToken"
    assert done.retryable is True
    assert "credential may have expired" in done.error_message


def test_withheld_permission_fails_naming_graph_check(simtenant, run_operation):
    # given
    simtenant.withhold("User.RevokeSessions.All")
    # when
    done = run_operation(_request(Kind.REVOKE_SESSIONS))
    # then
    assert done.status == OpStatus.FAILED
    assert done.error_code == "Authorization_RequestDenied"
    assert "graph_check" in done.error_message


def test_throttled_read_goes_back_to_pending_with_retry_after(simtenant, run_operation):
    # given
    simtenant.fault(status=429, count=1, retry_after=7, path_contains="/users/")
    before = timezone.now()
    # when
    done = run_operation(_request(Kind.LOOKUP_USER))
    # then
    assert done.status == OpStatus.PENDING
    assert done.error_code == "TooManyRequests"
    assert done.not_before >= before + dt.timedelta(seconds=7)
    assert done.attempts == 1


def test_client_request_id_is_the_operation_id(simtenant, run_operation):
    # when
    done = run_operation(_request(Kind.LOOKUP_USER))
    # then
    ids = {r["client_request_id"] for r in simtenant.requests() if "/v1.0/users/" in r["path"]}
    assert ids == {str(done.pk)}


def test_simulated_cloud_accepts_plain_http_on_its_own_host_name(
    simtenant, settings, run_operation
):
    # given: the compose case, the simulator on a non-loopback name (nothing listens there)
    settings.GRAPH_BASE_URL = simtenant.url.replace("127.0.0.1", "127.0.0.2") + "/v1.0"
    # when
    done = run_operation(_request(Kind.LOOKUP_USER))
    # then: the request was sent (and found no server), not refused by kiota as non-https
    assert done.status == OpStatus.PENDING
    assert done.error_code == "unreachable"
