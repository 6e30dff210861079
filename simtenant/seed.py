"""Seeds: ``demo`` (a small, believable directory) and ``empty`` (the app and the policy only).

Ids are derived from the UPN, so they stay the same across restarts of the simulator.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from simtenant import defaults
from simtenant.state import (
    GLOBAL_ADMIN,
    PHONE_IDS,
    App,
    Group,
    RoleAssignment,
    Tenant,
    User,
    now,
)

D = defaults.SIM_DOMAIN
PRIVILEGED_AUTH_ADMIN = "7be44c8a-adaf-4e2a-84d6-ab2649e08a13"
HELPDESK_ADMIN = "729827e3-9c14-49f7-bb1b-9608f156bbb8"


def object_id(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{name}.simtenant.{D}"))


@dataclass(frozen=True)
class Person:
    login: str
    name: str
    department: str | None
    title: str | None
    manager: str | None = None
    employee_id: str | None = None
    synced: bool | None = None
    language: str | None = "en-US"
    office: str | None = None


PEOPLE = (
    Person(
        "sofia.garcia",
        "Sofia Garcia",
        "Executive",
        "Chief Executive Officer",
        None,
        "E1001",
        office="Milan HQ",
    ),
    Person(
        "giulia.bianchi",
        "Giulia Bianchi",
        "Finance",
        "Finance Director",
        "sofia.garcia",
        "E1002",
        True,
        "it-IT",
        "Milan HQ",
    ),
    Person(
        "mario.rossi",
        "Mario Rossi",
        "Finance",
        "Senior Accountant",
        "giulia.bianchi",
        "E2041",
        True,
        "it-IT",
        "Milan HQ",
    ),
    Person(
        "pierre.martin",
        "Pierre Martin",
        "Sales",
        "Sales Director",
        "sofia.garcia",
        "E1003",
        language="fr-FR",
        office="Lyon",
    ),
    Person(
        "claire.dubois",
        "Claire Dubois",
        "Sales",
        "Account Executive",
        "pierre.martin",
        "E3107",
        language="fr-FR",
        office="Lyon",
    ),
    Person(
        "james.walker",
        "James Walker",
        "Engineering",
        "Head of Engineering",
        "sofia.garcia",
        "E1004",
        office="London",
    ),
    Person(
        "anna.schmidt",
        "Anna Schmidt",
        "Engineering",
        "Software Engineer",
        "james.walker",
        "E4210",
        office="London",
    ),
    Person(
        "nadia.haddad",
        "Nadia Haddad",
        "Human Resources",
        "HR Manager",
        "sofia.garcia",
        "E1005",
        office="Milan HQ",
    ),
    Person(
        "lucas.moreau",
        "Lucas Moreau",
        "Human Resources",
        "HR Specialist",
        "nadia.haddad",
        "E5302",
        language="fr-FR",
        office="Lyon",
    ),
    Person(
        "david.chen",
        "David Chen",
        "IT",
        "IT Infrastructure Lead",
        "sofia.garcia",
        "E1006",
        office="London",
    ),
    Person(
        "emma.johnson",
        "Emma Johnson",
        "IT",
        "Service Desk Analyst",
        "david.chen",
        "E6011",
        office="London",
    ),
    Person(
        "kenji.tanaka",
        "Kenji Tanaka",
        "IT",
        "Security Engineer",
        "david.chen",
        "E6015",
        office="London",
    ),
    Person(
        "tom.baker",
        "Tom Baker",
        "Sales",
        "Account Executive",
        "pierre.martin",
        "E3001",
        office="London",
    ),
)


def install_app(tenant: Tenant, *, client_id: str, client_secret: str | None) -> None:
    tenant.apps[client_id] = App(client_id=client_id, secret=client_secret)


def seed_empty(tenant: Tenant) -> None:
    tenant.groups[defaults.SIM_EXCLUSION_GROUP_ID] = Group(
        defaults.SIM_EXCLUSION_GROUP_ID, "CA Exclusion - MFA Recovery (temporary)"
    )


def seed_demo(tenant: Tenant) -> None:
    seed_empty(tenant)
    for person in PEOPLE:
        _add_person(tenant, person)
    _add_methods(tenant)
    _add_privileges(tenant)
    _add_guest(tenant)
    tenant.users[object_id("tom.baker")].account_enabled = False
    all_staff = Group(object_id("group.all-staff"), "All Staff")
    all_staff.members = {u.id for u in tenant.users.values() if u.user_type == "Member"}
    tenant.groups[all_staff.id] = all_staff


def _add_person(tenant: Tenant, person: Person) -> None:
    first, last = person.name.split(" ", 1)
    tenant.add_user(
        User(
            id=object_id(person.login),
            upn=f"{person.login}@{D}",
            display_name=person.name,
            given_name=first,
            surname=last,
            department=person.department,
            job_title=person.title,
            employee_id=person.employee_id,
            on_premises_sync_enabled=person.synced,
            preferred_language=person.language,
            office_location=person.office,
            manager_id=object_id(person.manager) if person.manager else None,
        )
    )


def _ago(days: int) -> dt.datetime:
    return now() - dt.timedelta(days=days)


def _add_methods(tenant: Tenant) -> None:
    def u(login: str) -> User:
        return tenant.users[object_id(login)]

    def phone(user: User, kind: str, number: str) -> None:
        tenant.add_method(
            user,
            "phoneAuthenticationMethod",
            id=PHONE_IDS[kind],
            phoneNumber=number,
            phoneType=kind,
            smsSignInState="notConfigured",
        )

    def app(user: User, device: str, days: int) -> None:
        tenant.add_method(
            user,
            "microsoftAuthenticatorAuthenticationMethod",
            created=_ago(days),
            displayName=device,
            phoneAppVersion="6.8.12",
        )

    app(u("mario.rossi"), "iPhone 13", 400)
    phone(u("mario.rossi"), "mobile", "+39 3471234567")
    app(u("giulia.bianchi"), "iPhone 15 Pro", 200)
    phone(u("claire.dubois"), "mobile", "+33 612345678")
    tenant.add_method(u("claire.dubois"), "softwareOathAuthenticationMethod")
    app(u("pierre.martin"), "Galaxy S23", 150)
    tenant.add_method(
        u("pierre.martin"),
        "fido2AuthenticationMethod",
        created=_ago(90),
        displayName="YubiKey 5C NFC",
    )
    app(u("anna.schmidt"), "Pixel 8", 300)
    tenant.add_method(
        u("anna.schmidt"),
        "windowsHelloForBusinessAuthenticationMethod",
        created=_ago(280),
        displayName="ANNA-LAPTOP",
    )
    tenant.add_method(
        u("anna.schmidt"), "emailAuthenticationMethod", emailAddress="anna.private@example.net"
    )
    app(u("james.walker"), "iPhone 14", 500)
    phone(u("nadia.haddad"), "mobile", "+39 3337654321")
    phone(u("nadia.haddad"), "alternateMobile", "+39 3201112233")
    phone(u("nadia.haddad"), "office", "+39 0212345678")
    app(u("david.chen"), "iPhone 15", 100)
    tenant.add_method(
        u("david.chen"),
        "fido2AuthenticationMethod",
        created=_ago(60),
        displayName="Feitian ePass K9",
    )
    app(u("emma.johnson"), "Galaxy A54", 30)
    app(u("kenji.tanaka"), "iPhone 12", 700)
    phone(u("sofia.garcia"), "mobile", "+39 3489998877")
    app(u("sofia.garcia"), "iPad Pro", 365)
    # lucas.moreau (a new joiner) has registered nothing yet.


def _add_privileges(tenant: Tenant) -> None:
    david = object_id("david.chen")
    tenant.roles.append(RoleAssignment(object_id("ra.david.ga"), david, GLOBAL_ADMIN))
    tenant.roles.append(
        RoleAssignment(
            object_id("re.emma.helpdesk"), object_id("emma.johnson"), HELPDESK_ADMIN, eligible=True
        )
    )
    tier0 = Group(object_id("group.tier0"), "Tier 0 Operators", is_assignable_to_role=True)
    tier0.members = {object_id("kenji.tanaka")}
    tenant.groups[tier0.id] = tier0
    tenant.roles.append(RoleAssignment(object_id("ra.tier0.paa"), tier0.id, PRIVILEGED_AUTH_ADMIN))


def _add_guest(tenant: Tenant) -> None:
    tenant.add_user(
        User(
            id=object_id("guest.sam.taylor"),
            upn=f"sam.taylor_fabrikam.example#EXT#@{D}",
            display_name="Sam Taylor (Fabrikam)",
            given_name="Sam",
            surname="Taylor",
            user_type="Guest",
        )
    )


SEEDS = {"demo": seed_demo, "empty": seed_empty}


def apply(tenant: Tenant, *, seed: str, client_id: str, client_secret: str | None) -> None:
    with tenant.lock:
        tenant.reset()
        install_app(tenant, client_id=client_id, client_secret=client_secret)
        SEEDS[seed](tenant)
