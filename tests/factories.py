"""factory_boy factories shared by the tests."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from tickets import policy
from tickets.models import Ticket
from tickets.roles import sync_roles

STAFF_PASSWORD = "correct-horse-battery-staple-42"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"staff{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@contoso.example")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.PostGenerationMethodCall("set_password", STAFF_PASSWORD)

    @factory.post_generation
    def roles(self, create: bool, extracted: list[str] | None, **kwargs: object) -> None:
        if create and extracted:
            # A transactional test's flush empties the groups the data migrations made.
            sync_roles()
            self.groups.set(Group.objects.filter(name__in=extracted))
        if create:
            self.save()


class TicketFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Ticket

    reference = factory.Sequence(lambda n: f"RP-T{n:06d}")
    full_name = factory.Faker("name")
    upn = factory.Sequence(lambda n: f"user{n}@contoso.example")
    department = "Finance"
    what_happened = "lost"
    claim_code_hash = "not-a-real-hash"
    urgency = "normal"
    # As the intake sets it (tickets.intake.submit_request).
    sla_due_at = factory.LazyAttribute(
        lambda t: policy.current().sla_due_at(t.urgency, received_at=timezone.now())
    )
