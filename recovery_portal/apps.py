from __future__ import annotations

from django.apps import AppConfig


class RecoveryPortalConfig(AppConfig):
    """The wiring package as an app: its data migration (second factors encrypted at rest),
    its management command (re-encrypt them under a new key) and its system checks."""

    name = "recovery_portal"
    verbose_name = "Recovery Portal"

    def ready(self) -> None:
        from recovery_portal import checks  # noqa: F401 -- registers the system checks
