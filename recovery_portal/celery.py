"""The Celery app. Beat schedules live here, and only here, each with the reason it exists."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import heartbeat_sent, task_postrun, task_prerun, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "recovery_portal.settings")

app = Celery("recovery_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    # /health/ reports the worker down when this beat stops arriving: a worker that is alive
    # but cannot reach the broker must not look healthy.
    "worker-heartbeat": {"task": "recovery_portal.heartbeat", "schedule": 30.0},
    # graphops: a GraphOperation whose message was lost (broker outage at enqueue time, or a
    # due time too far away for a countdown) is sent again once due. Duplicates are no-ops.
    "graphops-send-due": {"task": "graphops.send_due", "schedule": 30.0},
    # graphops: a row left RUNNING by a dead worker is checked against Graph and either run
    # again (repeatable kinds; a TAP only if Graph shows none was created) or sent to review.
    "graphops-recover-stale": {"task": "graphops.recover_stale", "schedule": 60.0},
    # graphops: a finished operation whose outcome the case has not taken up (its worker died
    # between the commit and the announcement, or a receiver failed, e.g. PostgreSQL restarting)
    # is announced again, so no case waits in EXECUTING and no "this wasn't me" notice goes
    # unsent. Only rows finished GRAPH_ANNOUNCE_AFTER_SECONDS ago (the worker's own attempt
    # comes first); a row whose announcement keeps failing backs off to hourly
    # (graphops.announcements).
    "graphops-announce-unannounced": {"task": "graphops.announce_unannounced", "schedule": 30.0},
    # graphops: a Conditional Access exclusion must end even if its removal failed (a
    # permission withdrawn, an outage): failed removals are retried until they succeed.
    "graphops-retry-exclusion-removals": {
        "task": "graphops.retry_exclusion_removals",
        "schedule": 600.0,
    },
    # graphops: a TAP nobody collected is worthless after its lifetime; drop its ciphertext.
    "graphops-wipe-expired-secrets": {"task": "graphops.wipe_expired_secrets", "schedule": 300.0},
    # tickets: a privileged case approved during its cooling-off starts once the delay is over
    # (nobody is clicking then), and executed cases ask Graph whether the person registered a
    # new method (→ restored) or let the pass expire (→ reopened for an agent). The interval
    # between checks of one case is the policy's follow_up_minutes; this only sets the tick.
    "tickets-follow-up": {"task": "tickets.follow_up", "schedule": 60.0},
    # tickets: every mail is owed as a row (tickets.outbox) — the manager's confirmation link
    # every case waits on, the "a recovery was requested" notices, security alerts — and must
    # leave even if the mail server or the broker was down when it was owed; mail not sent is
    # tried again here once its own back-off has passed (tickets.notifications).
    "tickets-send-due-mail": {"task": "tickets.send_due_mail", "schedule": 60.0},
    # tickets: the worker records its recovery policy at start (worker_ready below); a worker
    # that started while PostgreSQL was down records it here instead. A change of policy needs
    # a restart, so hourly only bounds that case.
    "tickets-record-policy": {"task": "tickets.record_policy", "schedule": 3600.0},
    # audit: the chain head is stored and logged every hour (the log leaves the database host
    # with the SIEM shipping), so a rewrite of the whole table cannot match what was published.
    "audit-publish-chain-head": {"task": "audit.publish_chain_head", "schedule": 3600.0},
    # audit: once a day the head also goes by e-mail to the auditors, a copy no database
    # administrator can reach.
    "audit-email-head-digest": {"task": "audit.email_head_digest", "schedule": 86400.0},
    # audit: personal values of cases closed longer than AUDIT_RETENTION_DAYS are blanked
    # (the chain stays verifiable); daily is precise enough for a period counted in days.
    "audit-purge-personal-data": {"task": "audit.purge_personal_data", "schedule": 86400.0},
}


@app.task(name="recovery_portal.heartbeat", ignore_result=True)
def heartbeat() -> None:
    from recovery_portal import health

    health.record_worker_heartbeat()


@worker_ready.connect
def _on_worker_ready(**_: object) -> None:
    from recovery_portal import health
    from tickets import policy

    health.record_worker_heartbeat()
    policy.record_policy_in_force(process="worker")


@heartbeat_sent.connect
def _on_heartbeat_sent(**_: object) -> None:
    # Sent by the worker itself every few seconds while its event loop runs (worker events are
    # on by default; -E would add per-task events, which nothing here reads);
    # cheap, and keeps the heartbeat fresh between beat ticks.
    from recovery_portal import health

    health.record_worker_heartbeat()


@task_prerun.connect
@task_postrun.connect
def _database_connection_upkeep(sender: object = None, **_: object) -> None:
    """What Django does around each request, around each task: close a connection that is
    broken or older than CONN_MAX_AGE, and health-check a reused one before its first query.
    Celery's own fixup only recycles every CELERY_DB_REUSE_MAX tasks (settings.py). A task run
    in-process (``apply()``, eager) shares its caller's connection and transaction: left alone."""
    if getattr(getattr(sender, "request", None), "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()
