"""A locked-out person at a browser: each triage path, then a full request and the status page,
in English, Italian (chosen by Accept-Language) and French (chosen with the switcher)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from tickets.models import Ticket, TriageDeflection

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

# What a person reads and clicks, in each language.
UI = {
    "en": {
        "start": "Locked out of your work account?",
        "work": "My work or school account",
        "personal": "A personal Microsoft account",
        "continue": "Continue",
        "backup_yes": "Yes, backup was on",
        "backup_no": "No",
        "other_yes": "Yes, I still have another method",
        "other_no": "No, none of these works",
        "form": "Ask IT to restore your access",
        "full_name": "Full name",
        "upn": "Work e-mail address",
        "department": "Department or team",
        "urgency": "High — I cannot work at all",
        "phone": "Phone number where we can reach you",
        "happened": "Phone lost",
        "methods": "None of these",
        "backup": "I don't know",
        "verification": "Video call with photo ID",
        "send": "Send the request",
        "received": "Request received",
        "to_status": "Go to the status page",
        "reference": "Reference",
        "claim_code": "Claim code",
        "show": "Show the status",
        "stage": "Received",
        "problem": "There is a problem",
    },
    "it": {
        "start": "Non riesci ad accedere al tuo account di lavoro?",
        "work": "Il mio account aziendale o dell’istituto",
        "continue": "Continua",
        "backup_no": "No",
        "other_no": "No, nessuno di questi funziona",
        "form": "Chiedi all’IT di ripristinare il tuo accesso",
        "full_name": "Nome e cognome",
        "upn": "Indirizzo e-mail di lavoro",
        "department": "Reparto o team",
        "urgency": "Alta: non posso lavorare affatto",
        "phone": "Numero di telefono a cui possiamo contattarti",
        "happened": "Telefono perso",
        "methods": "Nessuno di questi",
        "backup": "Non lo so",
        "verification": "Videochiamata con documento con foto",
        "send": "Invia la richiesta",
        "received": "Richiesta ricevuta",
        "to_status": "Vai alla pagina di stato",
        "reference": "Riferimento",
        "claim_code": "Codice pratica",
        "show": "Mostra lo stato",
        "stage": "Ricevuta",
        "problem": "C’è un problema",
    },
    "fr": {
        "start": "Bloqué hors de votre compte professionnel ?",
        "work": "Mon compte professionnel ou scolaire",
        "continue": "Continuer",
        "backup_no": "Non",
        "other_no": "Non, aucun ne fonctionne",
        "form": "Demandez à l’IT de rétablir votre accès",
        "full_name": "Nom complet",
        "upn": "Adresse e-mail professionnelle",
        "department": "Service ou équipe",
        "urgency": "Haute : je ne peux pas travailler du tout",
        "phone": "Numéro de téléphone où vous joindre",
        "happened": "Téléphone perdu",
        "methods": "Aucune de ces méthodes",
        "backup": "Je ne sais pas",
        "verification": "Appel vidéo avec pièce d’identité",
        "send": "Envoyer la demande",
        "received": "Demande reçue",
        "to_status": "Aller à la page d’état",
        "reference": "Référence",
        "claim_code": "Code de suivi",
        "show": "Afficher l’état",
        "stage": "Reçue",
        "problem": "Il y a un problème",
    },
}


def answer(page: Page, ui: dict[str, str], choice: str) -> None:
    # Short answers ("No") must match whole labels: "I don't know" contains "no" too.
    page.get_by_label(ui[choice], exact=choice.endswith(("_no", "_yes"))).check()
    page.get_by_role("button", name=ui["continue"]).click()


def test_triage_personal_account_leads_to_microsoft_recovery(page: Page, live_server) -> None:  # type: ignore[no-untyped-def]
    ui = UI["en"]
    page.goto(live_server.url)
    answer(page, ui, "personal")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Personal Microsoft account: use Microsoft's own recovery"
    )
    expect(page.get_by_role("link", name="account.live.com/acsr")).to_be_visible()
    assert TriageDeflection.objects.get().path == "personal_account"


def test_triage_backup_on_leads_to_the_restore_steps(page: Page, live_server) -> None:  # type: ignore[no-untyped-def]
    ui = UI["en"]
    page.goto(live_server.url)
    answer(page, ui, "work")
    answer(page, ui, "backup_yes")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Restore Microsoft Authenticator from your cloud backup"
    )
    expect(page.get_by_role("heading", name="On an iPhone (iOS)")).to_be_visible()
    expect(page.get_by_role("heading", name="On an Android phone")).to_be_visible()
    expect(page.get_by_text("cannot be restored on Android")).to_be_visible()
    # and if it does not work, the next question is one click away
    page.get_by_role("link", name="Try another way to sign in").click()
    expect(page.get_by_text("Question 3 of 3")).to_be_visible()


def test_triage_another_method_leads_to_sign_in_another_way(page: Page, live_server) -> None:  # type: ignore[no-untyped-def]
    ui = UI["en"]
    page.goto(live_server.url)
    answer(page, ui, "work")
    answer(page, ui, "backup_no")
    answer(page, ui, "other_yes")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Sign in with another method, then replace the old phone"
    )
    expect(page.get_by_text("delete the old phone's Authenticator entry")).to_be_visible()
    page.get_by_role("link", name="Ask IT to restore your access").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(ui["form"])


def test_triage_without_an_answer_shows_the_error_and_keeps_keyboard_use(  # type: ignore[no-untyped-def]
    page: Page, live_server
) -> None:
    page.goto(live_server.url)
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("alert")).to_contain_text("Choose one of the answers.")
    # keyboard only: tab to the first answer, select it with space, submit with enter
    page.get_by_label(UI["en"]["work"]).focus()
    page.keyboard.press("Space")
    page.keyboard.press("Enter")
    expect(page.get_by_text("Question 2 of 3")).to_be_visible()


def _walk_to_the_form(page: Page, ui: dict[str, str]) -> None:
    expect(page.get_by_role("heading", level=1)).to_have_text(ui["start"])
    answer(page, ui, "work")
    answer(page, ui, "backup_no")
    answer(page, ui, "other_no")
    expect(page.get_by_role("heading", level=1)).to_have_text(ui["form"])


def _fill_and_send(page: Page, ui: dict[str, str], upn: str) -> tuple[str, str]:
    # first an incomplete request: the error summary says what is missing, in the language
    page.get_by_label(ui["full_name"]).fill("Mario Rossi")
    page.get_by_role("button", name=ui["send"]).click()
    expect(page.get_by_role("alert")).to_contain_text(ui["problem"])
    # then the whole IT request template
    page.get_by_label(ui["upn"]).fill(upn)
    page.get_by_label(ui["department"]).fill("Finance")
    page.get_by_label(ui["urgency"]).check()
    page.get_by_label(ui["phone"]).fill("+39 333 123 4567")
    page.get_by_label(ui["happened"]).check()
    page.get_by_label(ui["methods"]).check()
    page.get_by_label(ui["backup"]).check()
    page.get_by_label(ui["verification"]).check()
    page.get_by_role("button", name=ui["send"]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(ui["received"])
    return page.locator("#reference").inner_text(), page.locator("#claim-code").inner_text()


def _open_status(page: Page, ui: dict[str, str], reference: str, code: str) -> None:
    page.get_by_role("link", name=ui["to_status"]).click()
    page.get_by_label(ui["reference"]).fill(reference)
    page.get_by_label(ui["claim_code"]).fill(code)
    page.get_by_role("button", name=ui["show"]).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(reference)
    expect(page.locator('[aria-current="step"]')).to_contain_text(ui["stage"])


@pytest.mark.parametrize("lang", ["en", "it", "fr"])
def test_full_request_then_status_page(browser: Browser, live_server, lang: str) -> None:  # type: ignore[no-untyped-def]
    ui = UI[lang]
    # given a person whose browser asks for Italian, or who picks French with the switcher
    context = browser.new_context(locale="it-IT" if lang == "it" else "en-GB")
    page = context.new_page()
    page.goto(live_server.url)
    if lang == "fr":
        page.get_by_label("Language").select_option("fr")
        page.get_by_role("button", name="Switch").click()
    expect(page.locator("html")).to_have_attribute("lang", lang)
    # when they walk the triage to the form and send the request
    _walk_to_the_form(page, ui)
    upn = f"mario.rossi.{lang}@contoso.example"
    reference, code = _fill_and_send(page, ui, upn)
    # then it is filed, in their language, and the status page opens with the claim code
    ticket = Ticket.objects.get(reference=reference)
    assert ticket.upn == upn and ticket.language == lang
    assert re.fullmatch(r"[0-9A-Z]{4}(-[0-9A-Z]{4}){3}", code)
    _open_status(page, ui, reference, code)
    context.close()
