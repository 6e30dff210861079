"""Public intake: triage counters, the request, the claim code, the directory lookup's outcome,
the "this wasn't me" link and the status page's access rules. Callers import this package only.

Nothing here may tell a visitor whether an account exists: the request is answered the same way
for every UPN (the directory is asked in the background, after commit), and the status page
answers "not recognised" the same way for an unknown reference and a wrong claim code.
Secrets (claim codes, link tokens) are returned to the caller once and stored only as hashes;
they never reach a log line, an audit event or a mail other than the one they are meant for.
"""

from __future__ import annotations

from tickets.intake.codes import (
    CLAIM_CODE_LENGTH,
    CODE_ALPHABET,
    REFERENCE_LENGTH,
    claim_code_matches,
    find_ticket_by_claim,
    hash_claim_code,
    new_claim_code,
    normalize_code,
    normalize_reference,
)
from tickets.intake.lookup import (
    notify_account_and_manager,
    on_operation_finished,
    record_directory_lookup,
)
from tickets.intake.not_me import (
    NOT_ME_LINK_DAYS,
    NotMeLinkInvalid,
    mint_not_me_token,
    not_me_url,
    open_not_me_link,
    report_not_me,
)
from tickets.intake.notices import owe_recovery_requested
from tickets.intake.notices import recipients as notice_recipients
from tickets.intake.requests import IntakeRequest, Receipt, submit_request
from tickets.intake.status import (
    STATUS_GRANT_SECONDS,
    CaseView,
    PublicStage,
    case_view,
    grant_status_access,
    revoke_status_access,
    ticket_from_status_grant,
)
from tickets.intake.throttle import (
    Throttle,
    intake_throttle,
    link_rejected,
    link_throttle,
    status_throttle,
)
from tickets.intake.triage import TRIAGE_NEXT, count_deflection, triage_answer

__all__ = [
    "CLAIM_CODE_LENGTH",
    "CODE_ALPHABET",
    "NOT_ME_LINK_DAYS",
    "REFERENCE_LENGTH",
    "STATUS_GRANT_SECONDS",
    "TRIAGE_NEXT",
    "CaseView",
    "IntakeRequest",
    "NotMeLinkInvalid",
    "PublicStage",
    "Receipt",
    "Throttle",
    "case_view",
    "claim_code_matches",
    "count_deflection",
    "find_ticket_by_claim",
    "grant_status_access",
    "hash_claim_code",
    "intake_throttle",
    "link_rejected",
    "link_throttle",
    "mint_not_me_token",
    "new_claim_code",
    "normalize_code",
    "normalize_reference",
    "not_me_url",
    "notice_recipients",
    "notify_account_and_manager",
    "on_operation_finished",
    "open_not_me_link",
    "owe_recovery_requested",
    "record_directory_lookup",
    "report_not_me",
    "revoke_status_access",
    "status_throttle",
    "submit_request",
    "ticket_from_status_grant",
    "triage_answer",
]
