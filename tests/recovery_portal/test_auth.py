"""recovery_portal/auth.py: nobody signs up alone; Entra sign-in only from the configured tenant,
with MFA in the ID token, never linked by hand; re-authentication through the second factor.

The Entra sign-in end to end (allauth's provider against the simulated tenant's OpenID
provider) is in tests/recovery_portal/entra/; these are the adapter's decisions on the sign-in
allauth hands it.
"""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.models import SocialAccount, SocialLogin
from django.contrib.auth import get_user_model
from django.test import RequestFactory

from recovery_portal.auth import EntraSocialAccountAdapter, StaffAccountAdapter
from tests.conftest import sign_in
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
TENANT = "11111111-2222-3333-4444-555555555555"
OID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"


def entra_login(
    tid: str = TENANT,
    *,
    amr: list[str] | None = None,
    provider: str = "microsoft",
    process: str = "login",
    **claims: object,
) -> SocialLogin:
    user = get_user_model()(username="someone")
    token = {"tid": tid, "oid": OID, "amr": ["pwd", "mfa"] if amr is None else amr, **claims}
    account = SocialAccount(provider=provider, uid=f"{tid}:{OID}", extra_data={"id_token": token})
    login = SocialLogin(user=user, account=account)
    login.state = {"process": process}
    return login


def refusal(login: SocialLogin) -> str | None:
    request = RequestFactory().get("/accounts/microsoft/login/callback/")
    try:
        EntraSocialAccountAdapter(request).pre_social_login(request, login)
    except ImmediateHttpResponse as refused:
        assert refused.response.status_code == 403
        return refused.response.content.decode()
    return None


@pytest.fixture
def sso_on(settings):  # type: ignore[no-untyped-def]
    settings.ENTRA_SSO_ENABLED = True
    settings.ENTRA_SSO_TENANT_ID = TENANT
    settings.ENTRA_SSO_AUTH_CONTEXT = ""
    settings.ENTRA_SSO_ROLES_FROM = "portal"
    return settings


def test_entra_sign_in_from_the_configured_tenant_with_mfa_is_accepted(sso_on) -> None:  # type: ignore[no-untyped-def]
    assert refusal(entra_login(TENANT.upper())) is None


def test_entra_sign_in_from_another_tenant_is_refused(sso_on) -> None:  # type: ignore[no-untyped-def]
    page = refusal(entra_login("99999999-2222-3333-4444-555555555555"))
    assert page is not None and "does not belong to the organisation" in page


def test_entra_sign_in_without_mfa_in_the_token_is_refused(sso_on) -> None:  # type: ignore[no-untyped-def]
    page = refusal(entra_login(amr=["pwd"]))
    assert page is not None and "did not include multi-factor authentication" in page


def test_entra_sign_in_needs_the_authentication_context_when_one_is_configured(sso_on) -> None:  # type: ignore[no-untyped-def]
    # given the portal configured to trust Conditional Access authentication context c1
    sso_on.ENTRA_SSO_AUTH_CONTEXT = "c1"
    # then amr alone is not enough; c1 in acrs is
    assert refusal(entra_login(amr=["pwd", "mfa"])) is not None
    assert refusal(entra_login(amr=["pwd"], acrs=["c1"])) is None


def test_entra_sign_in_is_refused_when_sso_is_off(settings) -> None:  # type: ignore[no-untyped-def]
    settings.ENTRA_SSO_ENABLED = False
    assert refusal(entra_login()) is not None


def test_entra_identity_cannot_be_connected_by_hand(sso_on) -> None:  # type: ignore[no-untyped-def]
    assert refusal(entra_login(process="connect")) is not None


def test_nobody_signs_up_with_a_password() -> None:
    request = RequestFactory().get("/")
    assert StaffAccountAdapter(request).is_open_for_signup(request) is False


def test_entra_sign_up_gives_an_account_only_when_sso_is_on(settings) -> None:  # type: ignore[no-untyped-def]
    request = RequestFactory().get("/")
    settings.ENTRA_SSO_ENABLED = False
    assert EntraSocialAccountAdapter(request).is_open_for_signup(request, entra_login()) is False
    settings.ENTRA_SSO_ENABLED = True
    assert EntraSocialAccountAdapter(request).is_open_for_signup(request, entra_login()) is True


def test_login_page_offers_microsoft_only_when_configured(client) -> None:  # type: ignore[no-untyped-def]
    assert b"/accounts/microsoft/login/" not in client.get("/accounts/login/").content


def test_login_page_offers_microsoft_when_configured(client, sso_on) -> None:  # type: ignore[no-untyped-def]
    sso_on.SOCIALACCOUNT_PROVIDERS = {
        "microsoft": {
            "provider_class": "recovery_portal.entra.provider.EntraProvider",
            "APPS": [{"client_id": "app-id", "secret": "s3cret", "settings": {"tenant": TENANT}}],
        }
    }
    assert b"/accounts/microsoft/login/" in client.get("/accounts/login/").content


@pytest.mark.parametrize(
    "path", ["/accounts/email/", "/accounts/3rdparty/", "/accounts/password/set/"]
)
def test_self_service_that_changes_who_someone_is_is_closed(mfa_client, agent, path) -> None:  # type: ignore[no-untyped-def]
    # given a signed-in agent; when they open allauth's e-mail, linked-accounts or set-password
    # pages, or post to them
    client = mfa_client(agent)
    page = client.get(path)
    posted = client.post(path, {"email": "boss@contoso.example", "action_add": ""})
    # then there is no such page and nothing was added
    assert page.status_code == posted.status_code == 404
    assert not EmailAddress.objects.filter(email="boss@contoso.example").exists()


# --- Re-authentication: within the window nothing more, past it the second factor ------------


def test_adding_a_key_right_after_sign_in_asks_nothing_more(client, agent) -> None:  # type: ignore[no-untyped-def]
    sign_in(client, agent)
    assert client.get("/accounts/2fa/webauthn/add/").status_code == 200


def test_adding_a_key_past_the_window_asks_for_the_second_factor(client, agent, settings) -> None:  # type: ignore[no-untyped-def]
    sign_in(client, agent, seconds_ago=settings.ACCOUNT_REAUTHENTICATION_TIMEOUT + 1)
    response = client.get("/accounts/2fa/webauthn/add/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/2fa/reauthenticate/?next=")


def test_the_re_authentication_offered_is_the_second_factor_only(rf, agent) -> None:  # type: ignore[no-untyped-def]
    # given an agent with a password and TOTP
    methods = StaffAccountAdapter(rf.get("/")).get_reauthentication_methods(agent)
    # then the password is not among the ways to re-authenticate
    assert [m["id"] for m in methods] == ["mfa_reauthenticate"]


def test_an_account_with_no_second_factor_re_authenticates_with_its_password(rf) -> None:  # type: ignore[no-untyped-def]
    # (to enrol its first factor, which allauth guards so)
    newcomer = UserFactory(username="newcomer")
    methods = StaffAccountAdapter(rf.get("/")).get_reauthentication_methods(newcomer)
    assert [m["id"] for m in methods] == ["reauthenticate"]
