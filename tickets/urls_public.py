from django.urls import path

from tickets.views import public, reveal

urlpatterns = [
    # Triage: the seeds' self-help paths before any request to IT.
    path("", public.start, name="public_start"),
    path("check/<slug:step>/", public.question, name="public_question"),
    path("triage/", public.answer, name="public_answer"),
    path("help/personal-account/", public.guide_personal, name="public_guide_personal"),
    path("help/restore-from-backup/", public.guide_restore, name="public_guide_restore"),
    path("help/another-method/", public.guide_other_method, name="public_guide_other_method"),
    # The request to IT.
    path("request/", public.request_form, name="public_request"),
    path("request/send/", public.request_submit, name="public_request_submit"),
    # Following the case (reference + claim code).
    path("status/", public.status_form, name="public_status"),
    path("status/check/", public.status_check, name="public_status_check"),
    path("status/case/", public.status_case, name="public_status_case"),
    path("status/leave/", public.status_leave, name="public_status_leave"),
    # "This wasn't me" (the link mailed to the account holder and the manager).
    path("not-me/", public.not_me, name="public_not_me"),
    path("not-me/confirm/", public.not_me_report, name="public_not_me_report"),
    # The requester's once-only reveal of the Temporary Access Pass (workflow's view).
    path("status/reveal/", reveal.requester_reveal, name="public_status_reveal"),
]
