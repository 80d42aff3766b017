"""Forms of the fraud admin: rules (checked like the service checks them), back-tests, alerts, thresholds."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet

from accounts.roles import Role
from creditplatform.admin_mixins import ThemedFormMixin
from fraud.choices import AlertResolution
from fraud.models import FraudRule, FraudRuleVersion, FraudSettings
from fraud.rules import FIELDS
from fraud.services import FOUR_EYES_MESSAGE, RULE_FIELDS, fraud_rule_check


def fields_help() -> str:
    names = ", ".join(f"{name} ({info.type_name})" for name, info in FIELDS.items())
    return (
        'A condition, e.g. <code>amount &gt;= 10000 and type == "virement"</code>. Operators: '
        "<code>== != &lt; &lt;= &gt; &gt;= and or not in</code>, <code>+ - * / // % **</code>, "
        "<code>cond ? a : b</code>, <code>[...]</code> lists, <code>.length .as_lower .starts_with(&quot;N&quot;) "
        ".ends_with(&quot;95&quot;)</code>, <code>$abs(x) $min([a, b]) $max([a, b])</code>. Not allowed: regular "
        "expressions, bit operators, comprehensions, mappings, indexing. Fields: " + names + ". See docs/fraud.md."
    )


class FraudRuleForm(ThemedFormMixin, forms.ModelForm):  # type: ignore[type-arg]
    """The condition and the reason are compiled here: an error is shown on the field, nothing is stored."""

    note = forms.CharField(
        max_length=200, required=False, help_text="Why this change (kept with the new version).", label="Change note"
    )

    class Meta:
        model = FraudRule
        fields = ["name", "description", "condition", "reason", "action", "weight", "is_active", "order"]
        widgets = {"condition": forms.Textarea(attrs={"rows": 3, "cols": 100, "spellcheck": "false"})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "condition" in self.fields:
            self.fields["condition"].help_text = fields_help()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        values = {name: cleaned.get(name, getattr(self.instance, name)) for name in RULE_FIELDS}
        was_active = bool(self.instance.pk and FraudRule.objects.filter(pk=self.instance.pk, is_active=True).exists())
        if cleaned.get("is_active") and not was_active and settings.PROMOTION_FOUR_EYES:
            self.add_error("is_active", FOUR_EYES_MESSAGE)  # the same rule as fraud_rule_save: one message
        if values.get("condition") is None or "condition" in self.errors:
            return cleaned
        try:
            fraud_rule_check(**values)
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, messages)
        return cleaned


class BacktestForm(ThemedFormMixin, forms.Form):
    """What to back-test (an unsaved condition, a version, or a rule's current version) and when."""

    rule = forms.ModelChoiceField(queryset=FraudRule.objects.all(), required=False, help_text="Its current version.")
    version = forms.ModelChoiceField(
        queryset=FraudRuleVersion.objects.select_related("rule"),
        required=False,
        help_text="A version of a rule (a draft, or one in the history).",
    )
    condition = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 100, "spellcheck": "false"}),
        help_text="An unsaved condition; when given, it is the one tested.",
    )
    start = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"}), help_text="First day (UTC), included."
    )
    end = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"}), help_text="Last day (UTC), included."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["condition"].help_text = fields_help()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not (cleaned.get("condition") or cleaned.get("version") or cleaned.get("rule")):
            raise ValidationError("Choose a rule or a version, or write a condition.")
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end and start > end:
            self.add_error("end", "The last day is before the first.")
        return cleaned

    def target(self) -> tuple[str, str]:
        """(label, condition) of what is tested."""
        data = self.cleaned_data
        if data.get("condition"):
            return "unsaved condition", data["condition"]
        version: FraudRuleVersion | None = data.get("version")
        if version is not None:
            return f"{version.name} v{version.version}", version.condition
        rule: FraudRule = data["rule"]
        return f"{rule.name} v{rule.version} (current)", rule.condition

    def period(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        def midnight(day: dt.date | None) -> dt.datetime | None:
            return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC) if day else None

        end = self.cleaned_data.get("end")
        return midnight(self.cleaned_data.get("start")), midnight(end + dt.timedelta(days=1) if end else None)


def analysts() -> QuerySet[Any]:
    """People who may hold an alert: active users in the analyst or admin group, or superusers."""
    return (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(Q(groups__name__in=[Role.ANALYST, Role.ADMIN]) | Q(is_superuser=True))
        .distinct()
        .order_by("username")
    )


class AlertAssignForm(ThemedFormMixin, forms.Form):
    assignee = forms.ModelChoiceField(queryset=analysts(), help_text="Only this analyst (or an admin) can resolve it.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = analysts()  # type: ignore[attr-defined]


class AlertResolveForm(ThemedFormMixin, forms.Form):
    resolution = forms.ChoiceField(choices=AlertResolution.choices, widget=forms.RadioSelect)
    comment = forms.CharField(
        max_length=2000, widget=forms.Textarea(attrs={"rows": 4, "cols": 80}), help_text="What you checked."
    )


class FraudSettingsForm(ThemedFormMixin, forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = FraudSettings
        fields = ["review_threshold", "block_threshold"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        review, block = cleaned.get("review_threshold"), cleaned.get("block_threshold")
        if review is not None and block is not None and review >= block:
            self.add_error("review_threshold", "The review threshold is below the block threshold.")
        if review is not None and review <= 0:
            self.add_error("review_threshold", "Above 0 (leave empty to follow the model).")
        if block is not None and block <= 0:
            self.add_error("block_threshold", "Above 0.")
        return cleaned
