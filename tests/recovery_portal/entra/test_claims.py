"""recovery_portal/entra/claims.py: the identity is tid + oid, MFA comes from amr or the
authentication context, roles from app roles or groups only when configured. Pure logic."""

from __future__ import annotations

from recovery_portal.entra import claims

TID = "4F1C2D7E-9A3B-4C5D-8E6F-7A8B9C0D1E2F"
OID = "0A1B2C3D-0000-4000-8000-00000000ABCD"
MAP = {"Recovery.Agent": "helpdesk_agent", "g-approvers": "approver"}


def identity(**token: object) -> claims.EntraIdentity:
    return claims.identity_from_claims({"tid": TID, "oid": OID, "amr": ["pwd", "mfa"], **token})


def refusal(ident: claims.EntraIdentity, *, auth_context: str = "", roles_from: str = "portal"):  # type: ignore[no-untyped-def]
    return claims.refusal(
        ident, tenant_id=TID.lower(), auth_context=auth_context, roles_from=roles_from
    )


def test_identity_uid_is_tenant_and_object_id_lower_case() -> None:
    assert identity().uid == f"{TID.lower()}:{OID.lower()}"


def test_identity_ignores_the_e_mail_and_the_name_for_the_uid() -> None:
    a = identity(email="boss@contoso.example", preferred_username="boss@contoso.example")
    b = identity(email="eve@contoso.example", preferred_username="eve@contoso.example")
    assert a.uid == b.uid


def test_refusal_accepts_the_tenant_with_mfa_in_amr() -> None:
    assert refusal(identity()) is None


def test_refusal_refuses_another_tenant() -> None:
    other = identity(tid="9188040d-6c67-4c5b-b112-36a304b66dad")
    assert refusal(other) is claims.Refusal.OTHER_TENANT


def test_refusal_refuses_a_token_without_tid_or_oid() -> None:
    assert refusal(identity(oid="")) is claims.Refusal.INCOMPLETE


def test_refusal_refuses_a_password_only_sign_in() -> None:
    assert refusal(identity(amr=["pwd"])) is claims.Refusal.NO_MFA
    assert refusal(identity(amr=None)) is claims.Refusal.NO_MFA


def test_refusal_with_an_authentication_context_reads_acrs_not_amr() -> None:
    assert refusal(identity(acrs=["c1"], amr=["pwd"]), auth_context="c1") is None
    assert refusal(identity(acrs=["c2"]), auth_context="c1") is claims.Refusal.NO_MFA


def test_refusal_refuses_a_groups_overage_when_roles_come_from_groups() -> None:
    overage = identity(_claim_names={"groups": "src1"})
    assert refusal(overage, roles_from="groups") is claims.Refusal.GROUPS_OVERAGE
    assert refusal(overage, roles_from="app_roles") is None


def test_roles_for_portal_assigned_roles_is_none() -> None:
    assert (
        claims.roles_for(identity(roles=["Recovery.Agent"]), roles_from="portal", role_map=MAP)
        is None
    )


def test_roles_for_app_roles_maps_known_values_only() -> None:
    ident = identity(roles=["Recovery.Agent", "Something.Else"])
    assert claims.roles_for(ident, roles_from="app_roles", role_map=MAP) == {"helpdesk_agent"}


def test_roles_for_groups_maps_group_ids() -> None:
    ident = identity(groups=["g-approvers", "g-other"])
    assert claims.roles_for(ident, roles_from="groups", role_map=MAP) == {"approver"}


def test_roles_for_a_token_without_roles_grants_nothing() -> None:
    assert claims.roles_for(identity(), roles_from="app_roles", role_map=MAP) == set()
