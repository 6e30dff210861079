from django.apps import AppConfig


class TicketsConfig(AppConfig):
    name = "tickets"
    verbose_name = "Recovery tickets"

    def ready(self) -> None:
        from audit.signals import personal_data_purged
        from graphops.signals import operation_finished
        from tickets import intake, retention, workflow

        # Both receivers run in graphops' announcement transaction and are idempotent: an
        # outcome they fail to take up is announced again by the beat (graphops/signals.py).
        # The case follows its Graph operations (execution steps, follow-up checks).
        operation_finished.connect(
            workflow.on_operation_finished, dispatch_uid="tickets.workflow.operation_finished"
        )
        # The intake stores the directory lookup's facts and notifies the account and manager.
        operation_finished.connect(
            intake.on_operation_finished, dispatch_uid="tickets.intake.operation_finished"
        )
        # A case past retention loses its personal fields here as it does in the audit trail.
        personal_data_purged.connect(
            retention.on_personal_data_purged, dispatch_uid="tickets.retention.personal_data_purged"
        )
