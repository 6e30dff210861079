"""Entra sign-in for staff: only the configured tenant, never a self-created account."""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.models import SocialAccount, SocialLogin
from django.contrib.auth import get_user_model
from django.test import RequestFactory

from recovery_portal.auth import EntraSocialAccountAdapter, StaffAccountAdapter

pytestmark = pytest.mark.django_db
TENANT = "11111111-2222-3333-4444-555555555555"


def entra_login(tid: str, provider: str = "microsoft") -> SocialLogin:
    user = get_user_model()(username="someone", email="someone@contoso.example")
    account = SocialAccount(provider=provider, uid="abc", extra_data={"tid": tid})
    return SocialLogin(user=user, account=account)


@pytest.fixture
def sso_on(settings):  # type: ignore[no-untyped-def]
    settings.ENTRA_SSO_ENABLED = True
    settings.ENTRA_SSO_TENANT_ID = TENANT
    return settings


def test_entra_sign_in_from_the_configured_tenant_is_accepted(sso_on) -> None:  # type: ignore[no-untyped-def]
    request = RequestFactory().get("/accounts/microsoft/login/callback/")
    EntraSocialAccountAdapter(request).pre_social_login(request, entra_login(TENANT.upper()))


def test_entra_sign_in_from_another_tenant_is_refused(sso_on) -> None:  # type: ignore[no-untyped-def]
    request = RequestFactory().get("/accounts/microsoft/login/callback/")
    with pytest.raises(ImmediateHttpResponse) as refused:
        EntraSocialAccountAdapter(request).pre_social_login(
            request, entra_login("99999999-2222-3333-4444-555555555555")
        )
    assert refused.value.response.status_code == 403


def test_entra_sign_in_is_refused_when_sso_is_off(settings) -> None:  # type: ignore[no-untyped-def]
    settings.ENTRA_SSO_ENABLED = False
    request = RequestFactory().get("/")
    with pytest.raises(ImmediateHttpResponse):
        EntraSocialAccountAdapter(request).pre_social_login(request, entra_login(TENANT))


def test_nobody_signs_up_alone() -> None:
    request = RequestFactory().get("/")
    assert StaffAccountAdapter(request).is_open_for_signup(request) is False
    assert (
        EntraSocialAccountAdapter(request).is_open_for_signup(request, entra_login(TENANT)) is False
    )


def test_login_page_offers_microsoft_only_when_configured(client) -> None:  # type: ignore[no-untyped-def]
    assert b"/accounts/microsoft/login/" not in client.get("/accounts/login/").content


def test_login_page_offers_microsoft_when_configured(client, sso_on) -> None:  # type: ignore[no-untyped-def]
    sso_on.SOCIALACCOUNT_PROVIDERS = {
        "microsoft": {"TENANT": TENANT, "APPS": [{"client_id": "app-id", "secret": "s3cret"}]}
    }
    assert b"/accounts/microsoft/login/" in client.get("/accounts/login/").content


def test_staff_cannot_add_an_email_address_themselves(mfa_client, agent) -> None:  # type: ignore[no-untyped-def]
    # given a signed-in agent; when they try allauth's e-mail self-service
    client = mfa_client(agent)
    page = client.get("/accounts/email/")
    added = client.post("/accounts/email/", {"email": "boss@contoso.example", "action_add": ""})
    # then there is no such page and no address was added
    assert page.status_code == added.status_code == 404
    assert not EmailAddress.objects.filter(email="boss@contoso.example").exists()
