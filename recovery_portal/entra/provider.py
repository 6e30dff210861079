"""allauth's Microsoft provider, bound to EntraOAuth2Adapter (settings: SOCIALACCOUNT_PROVIDERS
["microsoft"]["provider_class"]). Same id, same URLs, same redirect URI."""

from __future__ import annotations

from typing import Any

from allauth.socialaccount.providers.microsoft.provider import MicrosoftGraphProvider

from recovery_portal.entra.views import EntraOAuth2Adapter


class EntraProvider(MicrosoftGraphProvider):
    package = "recovery_portal.entra"
    oauth2_adapter_class = EntraOAuth2Adapter

    def extract_common_fields(self, data: dict[str, Any]) -> dict[str, Any]:
        # Never the e-mail: Entra's mail and UPN are mutable and prove nothing, and an address
        # on the account would make it findable by address. The name is for display only.
        return {
            "username": data.get("userPrincipalName") or "",
            "first_name": data.get("givenName") or "",
            "last_name": data.get("surname") or "",
        }

    def get_default_scope(self) -> list[str]:
        return ["openid", "profile", "User.Read"]
