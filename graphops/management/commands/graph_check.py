"""Check the configured tenant: token, permissions of the enabled features, TAP policy, group."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from graphops import diagnostics


class Command(BaseCommand):
    help = (
        "Checks that the portal can get a Graph token and holds every permission its enabled "
        "features need, that the Temporary Access Pass policy is on, and that the Conditional "
        "Access exclusion group exists. Names what is missing in Entra admin terms."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        findings = diagnostics.run_checks()
        for finding in findings:
            mark = self.style.SUCCESS("OK  ") if finding.ok else self.style.ERROR("FAIL")
            self.stdout.write(f"{mark} {finding.topic}: {finding.message}")
        failed = [f for f in findings if not f.ok]
        if failed:
            raise CommandError(f"{len(failed)} problem(s) found: the portal is not ready.")
        self.stdout.write(self.style.SUCCESS("All green: the portal can work with this tenant."))
