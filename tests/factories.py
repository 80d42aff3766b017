"""factory_boy factories for the domain models."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from fraud.models import FraudAlert, FraudCheck, Transaction
from governance.models import FairnessReport
from scoring.models import Client, CreditApplication, Decision, ModelVersion


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.test")
    is_staff = True

    @factory.post_generation
    def roles(self, create: bool, extracted: list[str] | None, **kwargs: object) -> None:
        if create and extracted:
            self.groups.set(Group.objects.filter(name__in=extracted))


class ClientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Client

    client_id = factory.Sequence(lambda n: f"C{1000 + n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.Faker("email")
    phone = "+33 6 12 34 56 78"
    birth_date = dt.date(1985, 6, 15)
    address = factory.Faker("address")


class CreditApplicationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CreditApplication

    client = factory.SubFactory(ClientFactory)
    amount = Decimal("15000.00")
    duration_months = 36
    declared_income = Decimal("42000.00")
    age = 40
    past_payment_incidents = 0


class TransactionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Transaction

    transaction_id = factory.Sequence(lambda n: f"TX{100000 + n}")
    client = factory.SubFactory(ClientFactory)
    amount = Decimal("120.00")
    type = "carte"
    timestamp = factory.LazyFunction(timezone.now)


class FraudCheckFactory(factory.django.DjangoModelFactory):
    """A stored check; ``features`` is the rule context a back-test replays."""

    class Meta:
        model = FraudCheck

    transaction = factory.SubFactory(TransactionFactory)
    features = factory.LazyFunction(dict)
    fraud_score = 0.1
    risk_level = "LOW"
    decision = "allow"
    caller = "user:0"


class FraudAlertFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FraudAlert

    fraud_check = factory.SubFactory(FraudCheckFactory, decision="review", risk_level="MEDIUM", fraud_score=0.6)


class FairnessReportFactory(factory.django.DjangoModelFactory):
    """A version's fairness report of one feature: one judged group, nothing flagged (pass
    ``model_version``, ``as_of``, ``feature``; ``flagged`` and ``findings`` for a disparity)."""

    class Meta:
        model = FairnessReport

    basis = "matured"
    kind = "sensitive"
    rows = 200
    groups = factory.LazyFunction(
        lambda: [{"group": "all", "n": 200, "approval_rate": 0.8, "ratio": 1.0, "judged": True}]
    )
    flagged = False
    findings = factory.LazyFunction(list)


def make_decision(model_version: ModelVersion, **kwargs: Any) -> Decision:
    """A stored credit decision (an approval at 0.2 unless ``kwargs`` say otherwise), as the API writes it."""
    fields: dict[str, Any] = {
        "features": {"age": 35},
        "probability_default": 0.2,
        "prediction": 0,
        "decision": "approve",
        "risk_level": "LOW",
        "threshold_used": 0.3,
        "caller": "user:0",
    }
    return Decision.objects.create(model_version=model_version, **{**fields, **kwargs})


def batch_caller(username: str = "batch-analyst") -> str:
    """The caller label of an analyst (created once): a batch job's caller must be one who may still
    score, or its chunks cancel the job (``caller_may_decide``). The group is made if a transactional
    test flushed the one the migrations made."""
    user = UserFactory(username=username)
    user.groups.add(Group.objects.get_or_create(name="analyst")[0])
    return f"user:{user.pk}"
