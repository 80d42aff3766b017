"""Forms of the fraud admin: rules (checked like the service checks them), back-tests, alerts, thresholds."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError

from creditplatform.admin_mixins import ThemedFormMixin, add_service_errors
from fraud.choices import AlertResolution
from fraud.models import FraudRule, FraudRuleVersion, FraudSettings
from fraud.rules import FIELDS
from fraud.services import (
    ASSIGNEE_NOT_ANALYST,
    FOUR_EYES_MESSAGE,
    RULE_FIELDS,
    fraud_analysts,
    fraud_rule_check,
    fraud_rule_edit_check,
    fraud_settings_current,
    fraud_thresholds_change_check,
    fraud_thresholds_check,
)


def fields_help() -> str:
    names = ", ".join(f"{name} ({info.type_name})" for name, info in FIELDS.items())
    return (
        'A condition, e.g. <code>amount &gt;= 10000 and type == "virement"</code>. Operators: '
        "<code>== != &lt; &lt;= &gt; &gt;= and or not in</code>, <code>+ - * / // % **</code>, "
        "<code>cond ? a : b</code>, <code>[...]</code> lists, <code>.length .as_lower .starts_with(&quot;N&quot;) "
        ".ends_with(&quot;95&quot;)</code>, <code>$abs(x) $min([a, b]) $max([a, b])</code>. Not allowed: regular "
        "expressions, bit operators, comprehensions, mappings, indexing. Fields: " + names + ". See docs/fraud.md."
    )


class FraudRuleForm(ThemedFormMixin, forms.ModelForm):
    """The condition and the reason are compiled here: an error is shown on the field, nothing is stored."""

    note = forms.CharField(
        max_length=200, required=False, help_text="Why this change (kept with the new version).", label="Change note"
    )

    # Set by the admin (``get_form``) to the signed-in user; None outside the admin (the service
    # checks again when it saves).
    editor: User | None = None

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
        if self.editor is not None:  # the admin's form: who may save this is the service's rule
            try:
                fraud_rule_edit_check(
                    user=self.editor,
                    rule=self.instance if self.instance.pk else None,
                    is_active=values["is_active"],
                    changes=values,
                )
            except PermissionDenied as exc:  # four eyes: on the box the admin ticked
                self.add_error("is_active" if str(exc) == FOUR_EYES_MESSAGE else None, str(exc))
        if values.get("condition") is None or "condition" in self.errors:
            return cleaned
        try:
            fraud_rule_check(**values)
        except ValidationError as exc:
            add_service_errors(self, exc)
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
        """[start, end) in UTC; the last day a date field takes (9999-12-31) has no day after it: no end."""

        def midnight(day: dt.date | None) -> dt.datetime | None:
            return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC) if day else None

        end = self.cleaned_data.get("end")
        after = end + dt.timedelta(days=1) if end and end < dt.date.max else None
        return midnight(self.cleaned_data.get("start")), midnight(after)


class AlertAssignForm(ThemedFormMixin, forms.Form):
    # Who may be chosen, and the error for anyone else, are the service's (fraud_analysts).
    assignee = forms.ModelChoiceField(
        queryset=fraud_analysts(),
        help_text="Only this analyst (or an admin) can resolve it.",
        error_messages={"invalid_choice": ASSIGNEE_NOT_ANALYST},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = fraud_analysts()  # type: ignore[attr-defined]


class AlertResolveForm(ThemedFormMixin, forms.Form):
    resolution = forms.ChoiceField(choices=AlertResolution.choices, widget=forms.RadioSelect)
    comment = forms.CharField(
        max_length=2000, widget=forms.Textarea(attrs={"rows": 4, "cols": 80}), help_text="What you checked."
    )


class FraudSettingsForm(ThemedFormMixin, forms.ModelForm):
    class Meta:
        model = FraudSettings
        fields = ["review_threshold", "block_threshold"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields.get("block_threshold")  # absent from a read-only page
        try:  # say so before the admin tries: a change is a promotion request
            fraud_thresholds_change_check()
        except PermissionDenied as exc:
            if field is not None:
                field.help_text = f"{field.help_text} {exc}".strip()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        try:
            fraud_thresholds_check(
                review_threshold=cleaned.get("review_threshold"), block_threshold=cleaned.get("block_threshold")
            )
        except ValidationError as exc:
            add_service_errors(self, exc)
        wanted = {
            "review_threshold": cleaned.get("review_threshold"),
            "block_threshold": cleaned.get("block_threshold"),
        }
        if wanted != fraud_settings_current():
            try:  # four eyes: a change is a promotion request (the service's rule)
                fraud_thresholds_change_check()
            except PermissionDenied as exc:
                self.add_error(None, str(exc))
        return cleaned
