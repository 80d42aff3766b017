"""Admin forms of the scoring app: uploads (a model version, a batch file), checked before anything is stored."""

from __future__ import annotations

import json
import uuid
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from creditplatform.admin_mixins import ThemedFormMixin, add_service_errors
from scoring.ml.model import ArtifactError, artifact_size_check
from scoring.ml.schema import FeatureSchema, SchemaError
from scoring.models import BatchJob, CreditApplication, ModelVersion
from scoring.services import ModelVersionRefused, client_change_check, model_version_check

SCHEMA_HELP = (
    'JSON list in the model\'s column order, e.g. [{"name": "age", "type": "integer", "label": "Age", "min": 17, '
    '"max": 120, "required": true}, {"name": "job", "type": "categorical", "categories": ["fixed", "freelance"]}]. '
    "Types: numeric, integer, categorical (categories in the order of the codes the model was trained on)."
)


class CreditApplicationForm(forms.ModelForm):
    """An application: never given to an erased client (``client_change_check``, on the client field)."""

    class Meta:
        model = CreditApplication
        fields = [
            "client", "application_id", "amount", "duration_months", "purpose", "declared_income", "age",
            "past_payment_incidents", "employment_years", "extra", "status",
        ]  # fmt: skip

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        try:
            client_change_check(client=data.get("client"), lock=True)  # the admin saves in this transaction
        except ValidationError as exc:
            add_service_errors(self, exc, {"client_id": "client"})
        return data


class ModelVersionChangeForm(ThemedFormMixin, forms.ModelForm):
    """A registered version: its notes and its refer band (checked by the service's rule)."""

    class Meta:
        model = ModelVersion
        fields = ["refer_lower", "refer_upper", "notes"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from django.core.exceptions import PermissionDenied

        from scoring.services import refer_band_change_check

        super().__init__(*args, **kwargs)
        field = self.fields.get("refer_lower")  # absent from a read-only page
        try:  # say so before the admin tries: the band of a version in service is a promotion request
            refer_band_change_check(model_version=self.instance)
        except PermissionDenied as exc:
            if field is not None:
                field.help_text = f"{field.help_text} {exc}".strip()

    def clean(self) -> dict[str, Any]:
        from django.core.exceptions import PermissionDenied, ValidationError

        from scoring.services import refer_band_change_check, refer_band_check

        super().clean()
        data = self.cleaned_data
        try:
            refer_band_check(
                threshold=self.instance.threshold, lower=data.get("refer_lower"), upper=data.get("refer_upper")
            )
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                self.add_error(field, messages)
        # The instance still holds the stored band here (a ModelForm copies the values after clean()).
        stored = (self.instance.refer_lower, self.instance.refer_upper)
        if (data.get("refer_lower"), data.get("refer_upper")) != stored:
            try:  # four eyes: the band of a version in service is a promotion request (the service's rule)
                refer_band_change_check(model_version=self.instance)
            except PermissionDenied as exc:
                self.add_error("refer_lower", str(exc))
        return data


class ModelUploadForm(ThemedFormMixin, forms.ModelForm):
    """A new draft version from a LightGBM model file and its feature schema."""

    model_file = forms.FileField(help_text="LightGBM model text, as written by Booster.save_model().")
    schema_json = forms.CharField(
        label="Feature schema", widget=forms.Textarea(attrs={"rows": 10}), help_text=SCHEMA_HELP
    )
    # Not "dataset": django-unfold reads a POSTed "dataset" as one of its dataset actions.
    training_data = forms.CharField(
        label="Data set", max_length=200, required=False, help_text="What it was trained on."
    )
    metrics_json = forms.CharField(
        label="Metrics", required=False, widget=forms.Textarea(attrs={"rows": 4}), help_text="Optional JSON object."
    )

    class Meta:
        model = ModelVersion
        fields = ["purpose", "version", "threshold", "notes"]

    def clean_model_file(self) -> bytes:
        upload = self.cleaned_data["model_file"]
        try:
            artifact_size_check(size=upload.size)  # before reading it
        except ArtifactError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return bytes(upload.read())

    def clean_schema_json(self) -> list[dict[str, Any]]:
        try:
            return FeatureSchema.from_list(json.loads(self.cleaned_data["schema_json"])).to_list()
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc}") from exc
        except SchemaError as exc:
            raise forms.ValidationError(str(exc)) from exc

    def clean_metrics_json(self) -> dict[str, Any]:
        raw = self.cleaned_data.get("metrics_json") or "{}"
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise forms.ValidationError("Metrics are a JSON object.")
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        purpose, threshold, version = data.get("purpose"), data.get("threshold"), data.get("version")
        artifact, schema = data.get("model_file"), data.get("schema_json")
        if purpose is None or threshold is None or artifact is None or schema is None or version is None:
            return data  # a field's own error is shown
        try:
            model_version_check(
                purpose=purpose,
                version=version,
                threshold=float(threshold),
                artifact=artifact,
                feature_schema=schema,
                metrics=data.get("metrics_json"),
            )
        except ModelVersionRefused as exc:
            self.add_error("metrics_json" if exc.field == "metrics" else exc.field, str(exc))
        except SchemaError as exc:
            self.add_error("schema_json", str(exc))
        except ArtifactError as exc:
            self.add_error("model_file", str(exc))
        return data


class BatchUploadForm(ThemedFormMixin, forms.ModelForm):
    """A file of applicants to score, checked by the batch service before a job is stored.

    Each upload page carries its own ``upload_token``, the form's Idempotency-Key: the same page
    sent twice (a double click, Save again after a slow upload) is the job stored the first time.
    """

    file = forms.FileField(
        help_text="CSV (UTF-8, a header row; comma, semicolon or tab separated) or Parquet. Columns: the champion's "
        "features (age, revenu, historique_impaye are enough) and optionally client_id, application_id."
    )
    upload_token = forms.CharField(widget=forms.HiddenInput, required=False, max_length=64)
    caller = ""  # who uploads (set by the admin): the token is theirs

    class Meta:
        model = BatchJob
        fields: list[str] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["upload_token"].initial = uuid.uuid4().hex

    @property
    def idempotency_key(self) -> str | None:
        token = self.cleaned_data.get("upload_token")
        return f"admin-upload:{token}" if token else None

    def clean(self) -> dict[str, Any]:
        from scoring.batch.services import BatchIdempotencyConflict, batch_job_for_key

        data = super().clean() or {}
        checked, key = data.get("file"), self.idempotency_key
        if checked is not None and key and self.caller:
            try:
                batch_job_for_key(caller=self.caller, idempotency_key=key, sha256=checked.split.sha256)
            except BatchIdempotencyConflict as exc:
                raise ValidationError(
                    "This upload page already sent another file; reload the page to upload a new one."
                ) from exc
        return data

    def clean_file(self) -> Any:
        from scoring.batch.files import BatchFileError
        from scoring.batch.services import BatchFileTooLarge, batch_file_check, batch_upload_size_check
        from scoring.ml.predictor import ModelUnavailable

        upload = self.cleaned_data["file"]
        try:
            batch_upload_size_check(size=upload.size)
            return batch_file_check(data=upload.read(), filename=upload.name or "")
        except (BatchFileError, BatchFileTooLarge, ModelUnavailable) as exc:
            raise forms.ValidationError(str(exc)) from exc
