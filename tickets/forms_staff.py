"""Staff forms: parse and validate input; the rules themselves live in tickets.workflow."""

from __future__ import annotations

import dataclasses
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.core import signing
from django.utils.translation import gettext_lazy as _

from tickets import plans, workflow
from tickets import policy as policy_module
from tickets.models import (
    MethodRemoval,
    Status,
    TapChannel,
    Ticket,
    Urgency,
    VerificationMethod,
)
from tickets.plans import Plan
from tickets.queue import QueueFilters

_PROMPTS_SALT = "tickets.forms_staff.liveness_prompts"

AGE_CHOICES = [
    ("", _("Any age")),
    ("1", _("Older than 1 hour")),
    ("4", _("Older than 4 hours")),
    ("24", _("Older than 1 day")),
]
PRIVILEGED_CHOICES = [
    ("", _("Any account")),
    ("yes", _("Privileged")),
    ("no", _("Not privileged")),
    ("unknown", _("Not known yet")),
]
SORT_CHOICES = [
    ("sla", _("SLA due first")),
    ("oldest", _("Oldest first")),
    ("newest", _("Newest first")),
    ("urgency", _("Most urgent first")),
]
_PREFERRED_METHOD = {
    "video": VerificationMethod.VIDEO_ID,
    "in_person": VerificationMethod.IN_PERSON,
    "callback": VerificationMethod.TRUSTED_CALLBACK,
}


class QueueFilterForm(forms.Form):
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("All open"))] + Status.choices
    )
    urgency = forms.ChoiceField(
        label=_("Urgency"), required=False, choices=[("", _("Any urgency"))] + Urgency.choices
    )
    age = forms.ChoiceField(label=_("Age"), required=False, choices=AGE_CHOICES)
    privileged = forms.ChoiceField(label=_("Account"), required=False, choices=PRIVILEGED_CHOICES)
    mine = forms.BooleanField(label=_("Assigned to me"), required=False)
    flagged = forms.BooleanField(label=_("Flagged only"), required=False)
    sort = forms.ChoiceField(label=_("Sort"), required=False, choices=SORT_CHOICES)

    def filters(self) -> QueueFilters:
        """The filters asked for (an invalid filter shows the plain open queue)."""
        data = self.cleaned_data if self.is_valid() else {}
        return QueueFilters(
            status=data.get("status") or "",
            urgency=data.get("urgency") or "",
            older_than_hours=int(data["age"]) if data.get("age") else None,
            privileged=data.get("privileged") or "",
            mine=bool(data.get("mine")),
            flagged=bool(data.get("flagged")),
            sort=data.get("sort") or "sla",
        )


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=1000, widget=forms.Textarea)


class NoteForm(forms.Form):
    note = forms.CharField(
        label=_("Note (optional)"), max_length=1000, required=False, widget=forms.Textarea
    )


class AssignForm(forms.Form):
    to = forms.ModelChoiceField(label=_("Assign to"), queryset=get_user_model().objects.none())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["to"].queryset = (  # type: ignore[attr-defined]
            get_user_model()
            .objects.filter(is_active=True, groups__permissions__codename="work_ticket")
            .distinct()
            .order_by("username")
        )


def sign_prompts(prompts: list[str]) -> str:
    return signing.dumps(prompts, salt=_PROMPTS_SALT, compress=True)


class VerificationForm(forms.Form):
    """What the verifier saw and the plan they propose, checked against the policy."""

    method = forms.ChoiceField(label=_("How did you verify the person?"), widget=forms.RadioSelect)
    evidence = forms.CharField(
        label=_("What you checked (no copies of documents)"),
        max_length=2000,
        widget=forms.Textarea,
        help_text=_("E.g. which ID document, that the face matched, how each prompt went."),
    )
    prompts = forms.CharField(widget=forms.HiddenInput, required=False)
    callback_number = forms.ChoiceField(
        label=_("Number called (from a trusted record)"), required=False
    )
    issue_tap = forms.BooleanField(label=_("Issue a Temporary Access Pass"), required=False)
    tap_lifetime_minutes = forms.IntegerField(label=_("Pass lifetime (minutes)"), required=False)
    tap_usable_once = forms.BooleanField(label=_("Usable once"), required=False)
    tap_channel = forms.ChoiceField(label=_("Hand over the pass"), choices=TapChannel.choices)
    remove_methods = forms.ChoiceField(
        label=_("Registered methods"), choices=MethodRemoval.choices, widget=forms.RadioSelect
    )
    method_ids_to_remove = forms.MultipleChoiceField(
        label=_("Methods of the lost device"), required=False, widget=forms.CheckboxSelectMultiple
    )
    revoke_sessions = forms.BooleanField(label=_("Revoke sign-in sessions"), required=False)
    ca_exclusion_minutes = forms.IntegerField(
        label=_("Temporary Conditional Access exclusion (minutes, empty for none)"),
        required=False,
        min_value=1,
    )

    def __init__(self, *args: Any, ticket: Ticket, **kwargs: Any) -> None:
        self.ticket = ticket
        pol = policy_module.current()
        super().__init__(*args, **kwargs)
        self.fields["method"].choices = [  # type: ignore[attr-defined]
            (m, VerificationMethod(m).label) for m in pol.verification_methods
        ]
        self.fields["callback_number"].choices = [("", "—")] + [  # type: ignore[attr-defined]
            (n, n) for n in plans.trusted_phone_numbers(ticket)
        ]
        self.fields["tap_channel"].choices = [  # type: ignore[attr-defined]
            (c, TapChannel(c).label) for c in pol.tap_channels
        ]
        self.fields["method_ids_to_remove"].choices = [  # type: ignore[attr-defined]
            (m["id"], f"{m['type']} — {m.get('displayName') or m['id']}")
            for m in plans.directory_methods(ticket)
        ]

    @classmethod
    def initial_for(cls, ticket: Ticket, prompts: list[str]) -> dict[str, Any]:
        plan = plans.default_plan(ticket)
        initial: dict[str, Any] = {
            "prompts": sign_prompts(prompts),
            "method": _PREFERRED_METHOD.get(ticket.preferred_verification, ""),
        }
        initial.update(dataclasses.asdict(plan))
        initial["method_ids_to_remove"] = list(plan.method_ids_to_remove)
        return initial

    def clean_prompts(self) -> list[str]:
        try:
            prompts = signing.loads(self.cleaned_data.get("prompts") or "", salt=_PROMPTS_SALT)
        except signing.BadSignature:
            return []
        return [str(p) for p in prompts] if isinstance(prompts, list) else []

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        self.plan = Plan(
            issue_tap=data["issue_tap"],
            tap_lifetime_minutes=data.get("tap_lifetime_minutes"),
            tap_usable_once=data["tap_usable_once"],
            tap_channel=data["tap_channel"],
            remove_methods=data["remove_methods"],
            method_ids_to_remove=tuple(data.get("method_ids_to_remove") or ()),
            revoke_sessions=data["revoke_sessions"],
            ca_exclusion_minutes=data.get("ca_exclusion_minutes"),
        )
        self.evidence_record = workflow.Evidence(
            method=data["method"],
            notes=data["evidence"],
            liveness_prompts=tuple(data["prompts"]) if data["method"] == "video_id" else (),
            callback_number=data.get("callback_number") or "",
        )
        for problem in plans.plan_problems(self.plan, self.ticket):
            self.add_error(None, problem)
        return data


class ManagerDecisionForm(forms.Form):
    decision = forms.ChoiceField(
        label=_("Your decision"),
        widget=forms.RadioSelect,
        choices=[
            ("confirm", _("I confirm: this request is genuine")),
            ("decline", _("I decline: something is wrong")),
        ],
    )
    reason = forms.CharField(label=_("Reason"), max_length=1000, widget=forms.Textarea)


class RequesterRevealForm(forms.Form):
    reference = forms.CharField(label=_("Reference"), max_length=32, required=False)
    claim_code = forms.CharField(label=_("Claim code"), max_length=64, required=False)
