"""Forms of the public pages: the triage questions, the IT request, the status look-up.

Every limit is enforced here, on the server; the HTML attributes only help the browser.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, cast

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from tickets.intake import CLAIM_CODE_LENGTH, IntakeRequest, normalize_code, normalize_reference
from tickets.models import (
    BackupState,
    PreferredVerification,
    RemainingMethod,
    Urgency,
    WhatHappened,
)

# --- Triage --------------------------------------------------------------------------------

TRIAGE_QUESTIONS: dict[str, dict[str, Any]] = {
    "account": {
        "legend": _("Which kind of account are you locked out of?"),
        "choices": [
            ("work", _("My work or school account (the one I use for company e-mail and Teams)")),
            ("personal", _("A personal Microsoft account (Outlook.com, Hotmail, Xbox, Skype)")),
        ],
    },
    "backup": {
        "legend": _("Was cloud backup turned on in Microsoft Authenticator on your old phone?"),
        "choices": [
            ("yes", _("Yes, backup was on")),
            ("no", _("No")),
            ("unknown", _("I don't know")),
        ],
    },
    "other_method": {
        "legend": _(
            "Do you still have another way to sign in: a text message or call to a phone "
            "you still have, or a security key or passkey?"
        ),
        "choices": [
            ("yes", _("Yes, I still have another method")),
            ("no", _("No, none of these works")),
        ],
    },
}


class TriageForm(forms.Form):
    label_suffix = ""
    step = forms.ChoiceField(choices=[(k, k) for k in TRIAGE_QUESTIONS], widget=forms.HiddenInput)
    answer = forms.ChoiceField(
        widget=forms.RadioSelect,
        error_messages={
            "required": _("Choose one of the answers."),
            "invalid_choice": _("Choose one of the answers."),
        },
    )

    def __init__(self, data: Any = None, *, step: str) -> None:
        super().__init__(data, initial={"step": step})
        question = TRIAGE_QUESTIONS[step]
        answer = cast(forms.ChoiceField, self.fields["answer"])
        answer.label = question["legend"]
        answer.choices = question["choices"]


# --- The IT request --------------------------------------------------------------------------

_PHONE = re.compile(r"^\+?[0-9 ().\-/]+$")


def _single_line(value: str) -> None:
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in value):
        raise ValidationError(_("Use one line of ordinary text here."), code="control")


def _tenant_domains_text() -> str:
    return ", ".join(f"@{d}" for d in settings.TENANT_DOMAINS)


def _text(label: Any, max_length: int, *, required: bool = True, **kw: Any) -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=max_length,
        required=required,
        validators=[_single_line],
        error_messages={
            "required": format_lazy(_("Enter {field}."), field=kw.pop("what", label)),
            "max_length": _("Keep this under %(limit_value)d characters (it has %(show_value)d)."),
        },
        **kw,
    )


class IntakeForm(forms.Form):
    """The IT request template from the seeds, field by field."""

    label_suffix = ""

    full_name = _text(_("Full name"), 120, what=_("your full name"))
    upn = forms.EmailField(
        label=_("Work e-mail address"),
        max_length=254,
        help_text=_("The address you sign in with, e.g. name.surname@contoso.example."),
        error_messages={
            "required": _("Enter your work e-mail address."),
            "invalid": _("Enter a valid e-mail address, like name.surname@contoso.example."),
            "max_length": _("Keep this under %(limit_value)d characters (it has %(show_value)d)."),
        },
    )
    department = _text(_("Department or team"), 120, what=_("your department or team"))
    urgency = forms.ChoiceField(
        label=_("How urgent is it?"),
        choices=Urgency.choices,
        widget=forms.RadioSelect,
        error_messages={
            "required": _("Choose how urgent it is."),
            "invalid_choice": _("Choose how urgent it is."),
        },
    )
    blocked_work = _text(
        _("What is blocked?"),
        300,
        required=False,
        help_text=_("For example: payroll run due today, customer call at 3 pm."),
    )
    alternate_phone = forms.CharField(
        label=_("Phone number where we can reach you"),
        max_length=32,
        required=False,
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"}),
        help_text=_("Give a phone number, a personal e-mail address, or both."),
        error_messages={
            "max_length": _("Keep this under %(limit_value)d characters (it has %(show_value)d).")
        },
    )
    alternate_email = forms.EmailField(
        label=_("Personal e-mail address"),
        max_length=254,
        required=False,
        help_text=_("We only send the reference there: never a code or a pass."),
        error_messages={
            "invalid": _("Enter a valid e-mail address, like name@example.org."),
            "max_length": _("Keep this under %(limit_value)d characters (it has %(show_value)d)."),
        },
    )
    what_happened = forms.ChoiceField(
        label=_("What happened?"),
        choices=WhatHappened.choices,
        widget=forms.RadioSelect,
        error_messages={
            "required": _("Choose what happened."),
            "invalid_choice": _("Choose what happened."),
        },
    )
    methods_still_working = forms.MultipleChoiceField(
        label=_("Which sign-in methods might still work?"),
        choices=RemainingMethod.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        error_messages={"invalid_choice": _("Choose only from the listed methods.")},
    )
    backup_enabled = forms.ChoiceField(
        label=_("Was cloud backup on in Microsoft Authenticator?"),
        choices=BackupState.choices,
        widget=forms.RadioSelect,
        error_messages={
            "required": _("Say whether backup was on (or that you don't know)."),
            "invalid_choice": _("Say whether backup was on (or that you don't know)."),
        },
    )
    preferred_verification = forms.ChoiceField(
        label=_("How would you like us to check it is really you?"),
        choices=PreferredVerification.choices,
        widget=forms.RadioSelect,
        error_messages={
            "required": _("Choose how we may check your identity."),
            "invalid_choice": _("Choose how we may check your identity."),
        },
    )
    details = forms.CharField(
        label=_("Anything else we should know?"),
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        error_messages={
            "max_length": _("Keep this under %(limit_value)d characters (it has %(show_value)d).")
        },
    )
    # Honeypot: hidden from people (and from screen readers); bots fill every field.
    website = forms.CharField(
        label=_("Leave this field empty"),
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"tabindex": "-1", "autocomplete": "off"}),
    )

    def clean_upn(self) -> str:
        upn = self.cleaned_data["upn"].strip().lower()
        domain = upn.rpartition("@")[2]
        if domain not in settings.TENANT_DOMAINS:
            raise ValidationError(
                _("Use your work address: it ends with %(domains)s."),
                code="domain",
                params={"domains": _tenant_domains_text()},
            )
        return upn

    def clean_alternate_phone(self) -> str:
        phone = self.cleaned_data["alternate_phone"].strip()
        digits = sum(ch.isdigit() for ch in phone)
        if phone and (not _PHONE.match(phone) or not 6 <= digits <= 20):
            raise ValidationError(
                _("Enter a phone number with digits only, e.g. +39 333 123 4567."), code="phone"
            )
        return phone

    def clean_alternate_email(self) -> str:
        return self.cleaned_data["alternate_email"].strip().lower()

    def clean_methods_still_working(self) -> list[str]:
        methods: list[str] = self.cleaned_data["methods_still_working"]
        if RemainingMethod.NONE in methods and len(methods) > 1:
            raise ValidationError(
                _("You chose 'None of these' together with a method: choose one or the other."),
                code="none_and_some",
            )
        return methods

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("website"):
            raise ValidationError(
                _(
                    "This request could not be accepted. If you filled in the hidden field "
                    "'Leave this field empty', clear it and send the request again."
                ),
                code="honeypot",
            )
        phone, email = data.get("alternate_phone"), data.get("alternate_email")
        if not phone and not email and "alternate_phone" not in self.errors:
            self.add_error(
                "alternate_phone",
                ValidationError(
                    _("Give a phone number or a personal e-mail address, so we can reach you."),
                    code="no_contact",
                ),
            )
        if email and email == data.get("upn"):
            self.add_error(
                "alternate_email",
                ValidationError(
                    _("Give an address other than your work address: you cannot read it now."),
                    code="same_as_upn",
                ),
            )
        return data

    def to_request(self) -> IntakeRequest:
        data = self.cleaned_data
        return IntakeRequest(
            full_name=data["full_name"],
            upn=data["upn"],
            department=data["department"],
            urgency=data["urgency"],
            blocked_work=data["blocked_work"],
            alternate_phone=data["alternate_phone"],
            alternate_email=data["alternate_email"],
            what_happened=data["what_happened"],
            methods_still_working=list(data["methods_still_working"]),
            backup_enabled=data["backup_enabled"],
            preferred_verification=data["preferred_verification"],
            details=data["details"],
        )


# --- The status page -------------------------------------------------------------------------


class StatusForm(forms.Form):
    label_suffix = ""
    reference = forms.CharField(
        label=_("Reference"),
        max_length=32,
        help_text=_("Like RP-AB12-CD34."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        error_messages={"required": _("Enter the reference of your request.")},
    )
    claim_code = forms.CharField(
        label=_("Claim code"),
        max_length=40,
        help_text=_("The code shown once when you sent the request, like ABCD-EFGH-JKMN-PQRS."),
        widget=forms.PasswordInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        error_messages={"required": _("Enter your claim code.")},
    )

    def clean_reference(self) -> str:
        reference = normalize_reference(self.cleaned_data["reference"])
        if not reference:
            raise ValidationError(_("A reference looks like RP-AB12-CD34."), code="format")
        return reference

    def clean_claim_code(self) -> str:
        code = normalize_code(self.cleaned_data["claim_code"])
        if len(code) != CLAIM_CODE_LENGTH:
            raise ValidationError(
                _("A claim code has 16 letters and digits, like ABCD-EFGH-JKMN-PQRS."),
                code="format",
            )
        return code


class NotMeForm(forms.Form):
    t = forms.CharField(max_length=600, widget=forms.HiddenInput)
