"""allauth's Microsoft provider views, with the ID token verified and the uid made tid:oid.

allauth's Microsoft provider is plain OAuth 2.0: it reads Graph's /me with the access token and
keys the account on /me's ``id`` (the object id), and never looks at the ID token. Here the
token response's ID token is verified too (signature against the tenant's JWKS, issuer of the
configured tenant, audience of this app, expiry: allauth's own jwtkit), the /me answer must name
the same object, and the account's uid becomes ``<tid>:<oid>``.
"""

from __future__ import annotations

from typing import Any

from allauth.socialaccount.internal import jwtkit
from allauth.socialaccount.models import SocialLogin, SocialToken
from allauth.socialaccount.providers.microsoft.views import MicrosoftGraphOAuth2Adapter
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView, OAuth2LoginView
from django.http import HttpRequest

from recovery_portal.entra import claims


class EntraOAuth2Adapter(MicrosoftGraphOAuth2Adapter):
    def verified_id_token(self, app: Any, id_token: str | None) -> dict[str, Any]:
        if not id_token:
            raise OAuth2Error("No ID token in the token response (is 'openid' in the scope?).")
        authority = self._build_tenant_url("")
        return jwtkit.verify_and_decode(
            credential=id_token,
            keys_url=f"{authority}/discovery/v2.0/keys",
            issuer=f"{authority}/v2.0",
            audience=app.client_id,
            lookup_kid=jwtkit.lookup_kid_jwk,
        )

    def complete_login(
        self, request: HttpRequest, app: Any, token: SocialToken, **kwargs: Any
    ) -> SocialLogin:
        response = kwargs.get("response") or {}
        identity = claims.identity_from_claims(
            self.verified_id_token(app, response.get("id_token"))
        )
        login = super().complete_login(request, app, token, **kwargs)
        if login.account.uid.lower() != identity.object_id:
            raise OAuth2Error("Graph's /me and the ID token name different users.")
        login.account.uid = identity.uid
        login.account.extra_data = {
            **login.account.extra_data,
            "id_token": identity.as_extra_data(),
        }
        return login


oauth2_login = OAuth2LoginView.adapter_view(EntraOAuth2Adapter)
oauth2_callback = OAuth2CallbackView.adapter_view(EntraOAuth2Adapter)
