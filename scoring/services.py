"""Writes of the scoring domain: <entity>_<action>(*, ...), one transaction each."""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, transaction
from django.utils import timezone

from audit.services import audit_record
from creditplatform.db import default_connection, execute_prepared, insert_row, insert_row_linked
from creditplatform.hot_settings import hot_settings
from scoring.choices import ApplicationStatus, CreditDecisionOutcome, ModelPurpose, ModelStatus, RiskLevel
from scoring.ml.model import ArtifactError, LoadedModel, load_booster, sha256_hex
from scoring.ml.pipeline import PIPELINE_VERSION
from scoring.ml.predictor import get_model
from scoring.ml.predictor import models as model_cache
from scoring.ml.schema import FeatureSchema
from scoring.models import CLIENT_NOT_ERASED, Client, CreditApplication, Decision, ModelArtifact, ModelVersion
from scoring.review.services import review_cases_open_referred
from scoring.signals import decisions_recorded
from scoring.validators import external_id_problem

if TYPE_CHECKING:
    from accounts.actors import Acting


CLIENT_ID_TAKEN = "A client with this client_id already exists."


@transaction.atomic
def client_create(*, client_id: str, **identity: Any) -> Client:
    """Create a client from validated identity fields.

    The unique index is the one judge of "this client_id exists": a check before the insert
    (the serializer's, for a clear 400 with the other fields) cannot see a concurrent request
    inserting the same id, whose row then fails this insert. That unique violation, caught in
    a savepoint so a caller's transaction survives, is ``ValidationError({"client_id":
    CLIENT_ID_TAKEN})``: the same 400 as an id that already existed, never a 500.
    """
    client = Client(client_id=client_id, **identity)
    client.full_clean(validate_unique=False)  # the insert below is the check, race-free
    try:
        with transaction.atomic():
            client.save()
    except IntegrityError:
        if not Client.objects.filter(client_id=client_id).exists():
            raise
        raise ValidationError({"client_id": [CLIENT_ID_TAKEN]}) from None
    return client


CLIENT_ID_FIXED = "The external id of a client cannot change."


def client_id_change_check(*, client: Client | None, client_id: str) -> None:
    """The one home of "client_id cannot change": the external id is the link every other system
    holds, fixed once the client exists. Raises ``ValidationError({"client_id": CLIENT_ID_FIXED})``."""
    if client is not None and client.pk is not None and client_id != client.client_id:
        raise ValidationError({"client_id": CLIENT_ID_FIXED})


CLIENT_ERASED = "This client was erased (GDPR Art. 17): it takes no new data."


def client_change_check(*, client: Client | None, lock: bool = False) -> None:
    """The one home of "an erased client takes no new data": what is left of them is the anonymous
    anchor of kept records, and a GDPR request for an erased client is refused, so data added to
    it could never be erased. Raises ``ValidationError({"client_id": CLIENT_ERASED})``.

    ``lock``: inside a transaction on PostgreSQL, read the client's erasure again under the lock
    its foreign key takes (``FOR KEY SHARE``), for a form that checks before it saves. An erasure
    in progress is waited for and then seen, so the form names the field, where the insert would
    have met the ``client_not_erased`` trigger (a 500 in the admin); an erasure that starts later
    waits for this transaction, and then erases what it wrote."""
    if client is None:
        return
    erased = client.erased_at is not None
    locking = lock and connection.vendor == "postgresql" and connection.in_atomic_block
    if locking and not erased and client.pk is not None:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT erased_at FROM {Client._meta.db_table} WHERE id = %s FOR KEY SHARE",  # noqa: S608
                [client.pk],
            )
            row = cursor.fetchone()
        erased = row is None or row[0] is not None
    if erased:
        raise ValidationError({"client_id": CLIENT_ERASED})


def client_erased_meanwhile(exc: BaseException) -> bool:
    """Whether a write failed because its client was erased meanwhile (PostgreSQL's
    ``client_not_erased`` trigger: a call that read the client just before its erasure
    committed). Callers answer ``ValidationError({"client_id": CLIENT_ERASED})``."""
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None) == CLIENT_NOT_ERASED


@transaction.atomic
def client_update(*, client: Client, **changes: Any) -> Client:
    """Update a client's identity fields (the external id never changes: ``client_id_change_check``;
    an erased client not at all: ``client_change_check``)."""
    client_change_check(client=client)
    if "client_id" in changes:
        client_id_change_check(client=client, client_id=changes.pop("client_id"))
    for field, value in changes.items():
        setattr(client, field, value)
    client.full_clean()
    client.save()
    return client


def client_ids_check(*, client_ids: Iterable[str]) -> None:
    """The floor under every client created from an external id (API callers send ids only):
    ``ValidationError`` naming ``client_id`` for a malformed one, or one in the erasure's own
    namespace (``erased-…``). Callers validate first."""
    for cid in client_ids:
        problem = external_id_problem(cid)
        if problem is not None:
            raise ValidationError({"client_id": problem})


# --- The model registry ------------------------------------------------------------------


class ModelVersionRefused(ValueError):
    """A new model version's value that fails its check; ``field`` names the argument."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


# A version's name is shown in answers (``model_version``), headers (the model card's file name) and
# the audit trail: one token, no spaces or line breaks, within its column (anchored with \A and \Z:
# "$" would let a final newline through).
VERSION_NAME_PATTERN = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.:-]{0,49}\Z")
VERSION_NAME_MESSAGE = "A version name is 1-50 letters, digits, '_', '.', ':' or '-', starting with a letter or digit."


def model_version_name_check(*, purpose: str, version: str, taken: bool = True) -> None:
    """The one rule of a version's name: its pattern and, with ``taken``, not registered for the purpose
    already. Raises ``ModelVersionRefused("version", ...)``; the training commands check the pattern
    before they train."""
    if not isinstance(version, str) or not VERSION_NAME_PATTERN.match(version):
        raise ModelVersionRefused("version", VERSION_NAME_MESSAGE)
    if taken and ModelVersion.objects.filter(purpose=purpose, version=version).exists():
        raise ModelVersionRefused("version", f"{purpose} version {version} is already registered: choose another name.")


METRICS_MESSAGE = (
    "Metrics are JSON numbers, text, lists and objects: NaN and Infinity cannot be stored (write null instead)."
)


def model_version_check(
    *,
    purpose: str,
    version: str,
    threshold: float,
    artifact: bytes,
    feature_schema: list[dict[str, Any]],
    metrics: dict[str, Any] | None = None,
) -> FeatureSchema:
    """The one home of the upload checks of a model version (the admin's form and registration).

    Raises ``ModelVersionRefused`` (purpose, version name, threshold, metrics), ``SchemaError`` (the
    feature schema) or ``ArtifactError`` (the file: size, structure, then a load and predictions in a
    child process), all ``ValueError`` with a readable reason. Returns the parsed schema.
    """
    if purpose not in ModelPurpose.values:
        raise ModelVersionRefused("purpose", f"The purpose is one of: {', '.join(ModelPurpose.values)}.")
    model_version_name_check(purpose=purpose, version=version)
    try:  # PostgreSQL's json type has no NaN or Infinity: the insert would fail
        json.dumps(metrics or {}, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ModelVersionRefused("metrics", METRICS_MESSAGE) from exc
    if not 0 <= threshold <= 1:
        raise ModelVersionRefused("threshold", "The threshold is a probability between 0 and 1.")
    schema = FeatureSchema.from_list(feature_schema)
    load_booster(artifact, schema, isolated=True)  # raises ArtifactError
    return schema


def model_version_register(
    *,
    purpose: str,
    version: str,
    artifact: bytes,
    feature_schema: list[dict[str, Any]],
    threshold: float,
    metrics: dict[str, Any] | None = None,
    dataset: str = "",
    reference_data: dict[str, Any] | None = None,
    notes: str = "",
    created_by: Acting = None,
) -> ModelVersion:
    """Register a trained model as a draft, after proving its file loads and fits its schema.

    Raises what ``model_version_check`` raises (``ValueError``s with a readable reason);
    nothing is stored then.
    """
    schema = model_version_check(
        purpose=purpose,
        version=version,
        threshold=threshold,
        artifact=artifact,
        feature_schema=feature_schema,
        metrics=metrics,
    )
    try:
        return _model_version_store(
            purpose=purpose,
            version=version,
            artifact=artifact,
            schema=schema,
            threshold=threshold,
            metrics=metrics,
            dataset=dataset,
            reference_data=reference_data,
            notes=notes,
            created_by=created_by,
        )
    except IntegrityError as exc:  # the same name registered meanwhile (the check ran before the file's)
        if not ModelVersion.objects.filter(purpose=purpose, version=version).exists():
            raise
        raise ModelVersionRefused(
            "version", f"{purpose} version {version} is already registered: choose another name."
        ) from exc


def _model_version_store(
    *,
    purpose: str,
    version: str,
    artifact: bytes,
    schema: FeatureSchema,
    threshold: float,
    metrics: dict[str, Any] | None,
    dataset: str,
    reference_data: dict[str, Any] | None,
    notes: str,
    created_by: Acting,
) -> ModelVersion:
    with transaction.atomic():
        model_version = ModelVersion.objects.create(
            purpose=purpose,
            version=version,
            sha256=sha256_hex(artifact),
            feature_schema=schema.to_list(),
            threshold=threshold,
            metrics=metrics or {},
            dataset=dataset,
            notes=notes,
            created_by=created_by if isinstance(created_by, User) else None,
        )
        ModelArtifact.objects.create(
            model_version=model_version, content=artifact, size=len(artifact), reference_data=reference_data or {}
        )
        audit_record(
            actor=created_by,
            action="model.registered",
            target=model_version,
            details={"purpose": purpose, "version": version, "sha256": model_version.sha256, "threshold": threshold},
        )
    return model_version


ACTIVATE_FOUR_EYES_MESSAGE = (
    "Four eyes are on (PROMOTION_FOUR_EYES): a version is put in service (champion or challenger) only through "
    "a promotion request under Model governance, Promotion requests; a second admin approves it."
)


CHAMPION_KEPT = (
    "{version} is the {purpose} champion: it leaves that role only when another version becomes champion. "
    "Made challenger, it would leave {purpose} without a champion, and every decision would be refused (503)."
)


def model_version_role_check(*, model_version: ModelVersion, status: str) -> None:
    """The one home of "a purpose keeps its champion": the champion is never made challenger (the
    role it would leave stays empty: ``/score`` answers 503). Another version made champion
    retires it; the kill switch (retire) is the deliberate way to stop serving. Raises
    ``ValidationError({"status": ...})``."""
    if model_version.status == ModelStatus.CHAMPION and status == ModelStatus.CHALLENGER:
        raise ValidationError(
            {"status": CHAMPION_KEPT.format(version=model_version.version, purpose=model_version.purpose)}
        )


def model_version_activate_check(
    *, model_version: ModelVersion, status: str, user: Acting = None, promotion: Any = None
) -> None:
    """The one home of "who puts a version in service at once": while four eyes are on, a version
    becomes champion or challenger only under an approved promotion request (``promotion``,
    governance.promotion), whoever asks: an admin, an API key, a command.

    One exception: the platform itself (``user=None``: a training command, the set-up) installs
    the first champion of a purpose that has none, so that a fresh install serves at once;
    nothing is in service for a reviewer to protect. Asking for the role a version already has
    changes nothing and is allowed. Raises ``PermissionDenied(ACTIVATE_FOUR_EYES_MESSAGE)``.
    """
    if promotion is not None or not settings.PROMOTION_FOUR_EYES or model_version.status == status:
        return
    if (
        user is None
        and status == ModelStatus.CHAMPION
        and not ModelVersion.objects.filter(purpose=model_version.purpose, status=ModelStatus.CHAMPION).exists()
    ):
        return
    raise PermissionDenied(ACTIVATE_FOUR_EYES_MESSAGE)


def model_version_activate(
    *, model_version: ModelVersion, status: str, user: Acting = None, promotion: Any = None
) -> ModelVersion:
    """Make a version the champion or the challenger of its purpose.

    The version holding that role before is retired; a challenger promoted to champion
    leaves the challenger role empty. The file is checked again first: a version that
    cannot be served is never activated. Four eyes: ``model_version_activate_check`` (checked
    again under the lock); ``promotion`` is the approved request that carries it out.
    """
    if status not in (ModelStatus.CHAMPION, ModelStatus.CHALLENGER):
        raise ValueError("a version is activated as champion or challenger")
    model_version_role_check(model_version=model_version, status=status)
    model_version_activate_check(model_version=model_version, status=status, user=user, promotion=promotion)
    # The file is run in a child process too (it may have been registered before today's
    # checks). That takes seconds: do it before taking the row lock; under the lock the
    # same file is then a cache hit.
    _artifact_check(ModelVersion.objects.select_related("artifact_file").get(pk=model_version.pk))
    with transaction.atomic():
        locked = (
            ModelVersion.objects.select_for_update(of=("self",))
            .select_related("artifact_file")
            .get(pk=model_version.pk)
        )
        if locked.status == status:
            return locked
        # Again on the locked row: its role may have changed during the file's check.
        model_version_role_check(model_version=locked, status=status)
        model_version_activate_check(model_version=locked, status=status, user=user, promotion=promotion)
        _artifact_check(locked)
        displaced = (
            ModelVersion.objects.select_for_update().filter(purpose=locked.purpose, status=status).exclude(pk=locked.pk)
        )
        retired = list(displaced.values_list("version", flat=True))
        displaced.update(status=ModelStatus.RETIRED)
        previous_status = locked.status
        locked.status = status
        locked.activated_at = timezone.now()
        locked.activated_by = user if isinstance(user, User) else None
        locked.save(update_fields=["status", "activated_at", "activated_by"])
        audit_record(
            actor=user,
            action="model.activated",
            target=locked,
            details={
                "purpose": locked.purpose,
                "version": locked.version,
                "status": status,
                "previous_status": previous_status,
                "retired": retired,
                "threshold": locked.threshold,
            },
        )
        transaction.on_commit(model_cache.invalidate)
    return locked


def refer_band_check(*, threshold: float, lower: float | None, upper: float | None) -> None:
    """The refer band's rule: both bounds or neither, ``0 <= lower <= threshold <= upper <= 1``.

    Raises a ``ValidationError`` naming the bound at fault.
    """
    if lower is None and upper is None:
        return
    if lower is None or upper is None:
        missing = "refer_lower" if lower is None else "refer_upper"
        raise ValidationError({missing: "Set both bounds of the refer band, or neither."})
    errors: dict[str, str] = {}
    for name, value in (("refer_lower", lower), ("refer_upper", upper)):
        if not 0 <= value <= 1:
            errors[name] = "A probability between 0 and 1."
    if "refer_lower" not in errors and lower > threshold:
        errors["refer_lower"] = f"The band's lower bound must be at or below the threshold ({threshold:g})."
    if "refer_upper" not in errors and upper < threshold:
        errors["refer_upper"] = f"The band's upper bound must be at or above the threshold ({threshold:g})."
    if errors:
        raise ValidationError(errors)


REFER_BAND_FOUR_EYES_MESSAGE = (
    "Four eyes are on (PROMOTION_FOUR_EYES): the refer band of a version in service changes only through a "
    "promotion request under Model governance, Promotion requests; a second admin approves it."
)


def refer_band_change_check(*, model_version: ModelVersion, promotion: Any = None) -> None:
    """The one home of "who changes a refer band at once": while four eyes are on, the band of a
    version in service (champion or challenger) changes only under an approved promotion
    request (``promotion``, governance.promotion), whoever asks: an admin, a command, the platform.

    A draft's or a retired version's band is set directly (its promotion's reviewer sees it).
    Raises ``PermissionDenied(REFER_BAND_FOUR_EYES_MESSAGE)``.
    """
    if promotion is None and settings.PROMOTION_FOUR_EYES and model_version.is_live:
        raise PermissionDenied(REFER_BAND_FOUR_EYES_MESSAGE)


def model_version_set_refer_band(
    *,
    model_version: ModelVersion,
    lower: float | None,
    upper: float | None,
    user: Acting = None,
    promotion: Any = None,
) -> ModelVersion:
    """Set (or clear, with two Nones) a version's refer band; each change is in the audit trail.

    While four eyes are on, a version in service changes its band only under an approved
    promotion request (``refer_band_change_check``). Serving processes pick the new band up at
    their next registry check (at once in this one).
    """
    with transaction.atomic():
        locked = ModelVersion.objects.select_for_update().get(pk=model_version.pk)
        refer_band_check(threshold=locked.threshold, lower=lower, upper=upper)
        before = locked.refer_band_values
        after = {"refer_lower": lower, "refer_upper": upper}
        if before != after:
            refer_band_change_check(model_version=locked, promotion=promotion)
            locked.refer_lower, locked.refer_upper = lower, upper
            locked.save(update_fields=["refer_lower", "refer_upper"])
            audit_record(
                actor=user,
                action="model.refer_band_changed",
                target=locked,
                details={
                    "purpose": locked.purpose,
                    "version": locked.version,
                    "threshold": locked.threshold,
                    "before": before,
                    "after": after,
                    **({"promotion": promotion.pk} if promotion is not None else {}),
                },
            )
            transaction.on_commit(model_cache.invalidate)
    model_version.refer_lower, model_version.refer_upper = lower, upper
    return model_version


def _artifact_check(row: ModelVersion) -> None:
    try:
        content = bytes(row.artifact_file.content)
    except ModelArtifact.DoesNotExist as exc:
        raise ArtifactError("This version has no model file.") from exc
    load_booster(content, FeatureSchema.from_list(row.feature_schema), expected_sha256=row.sha256, isolated=True)


def model_version_retire(*, model_version: ModelVersion, user: Acting = None) -> ModelVersion:
    """Take a version out of service (a purpose may then have no champion: /score answers 503)."""
    with transaction.atomic():
        locked = ModelVersion.objects.select_for_update().get(pk=model_version.pk)
        if locked.status != ModelStatus.RETIRED:
            previous_status = locked.status
            ModelVersion.objects.filter(pk=locked.pk).update(status=ModelStatus.RETIRED)
            audit_record(
                actor=user,
                action="model.retired",
                target=locked,
                details={"purpose": locked.purpose, "version": locked.version, "previous_status": previous_status},
            )
        transaction.on_commit(model_cache.invalidate)
    model_version.refresh_from_db()
    return model_version


def model_version_delete_check(*, model_version: ModelVersion) -> None:
    """The one rule of deleting a registered version: only one that never served (not in service,
    no decision made or scored in shadow). Reports, promotion requests and fraud checks naming it
    protect it too (the database refuses). Raises ``ValidationError`` naming the status."""
    if model_version.is_live:
        raise ValidationError({"status": "A version in service is retired, never deleted."})
    if model_version.decisions.exists() or model_version.shadow_decisions.exists():
        raise ValidationError({"status": "A version that made or shadowed decisions is evidence: it is never deleted."})


def model_version_may_delete(model_version: ModelVersion) -> bool:
    """``model_version_delete_check`` as a yes/no, for the admin's delete permission."""
    try:
        model_version_delete_check(model_version=model_version)
    except ValidationError:
        return False
    return True


def model_version_delete(*, model_version: ModelVersion, user: Acting = None) -> None:
    """Delete a version that never served (its model file with it); recorded in the audit trail."""
    with transaction.atomic():
        locked = ModelVersion.objects.select_for_update().get(pk=model_version.pk)
        model_version_delete_check(model_version=locked)
        audit_record(
            actor=user,
            action="model.deleted",
            target=locked,
            details={"purpose": locked.purpose, "version": locked.version, "status": locked.status,
                     "sha256": locked.sha256},
        )  # fmt: skip
        locked.delete()


# --- Credit decisions --------------------------------------------------------------------


class IdempotencyConflict(Exception):
    """An Idempotency-Key already used by this caller for a different request body."""


@dataclass(frozen=True)
class ScoreRequest:
    """One validated applicant: the model's features and the optional links to stored records."""

    features: dict[str, Any]
    client_id: str | None = None
    application_id: str | None = None


# The version of the fingerprint stored with a decision sent with an Idempotency-Key
# (``Decision.request_hash``). Before it, the hash covered the JSON body as sent (64 hex
# digits, no prefix): ``50000`` and ``50000.0`` were two bodies, so a retry was a 409.
FINGERPRINT_VERSION = "v2:"


def score_request_fingerprint(features: dict[str, Any], client_id: str | None, application_id: str | None) -> str:
    """What an Idempotency-Key protects: the validated applicant, not the bytes of the body.

    The features as validated (canonical names, a null left out as missing) with every
    number a float (``50000`` and ``50000.0`` are one value, as the model sees them), and the
    links (a ``client_id`` sent with an ``application_id`` adds nothing: it must be the
    application's), as JSON with sorted keys: one ``orjson.dumps`` of a small dict.
    """
    values = {name: value if isinstance(value, str) else value + 0.0 for name, value in features.items()}
    links = [None if application_id else client_id, application_id]
    return FINGERPRINT_VERSION + hashlib.sha256(orjson.dumps([values, *links], option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True)
class ScoreOutcome:
    decision: Decision
    replayed: bool = False


def risk_level_for(probability: float, threshold: float) -> str:
    """HIGH at or above the threshold (refused); MEDIUM from a fraction of it; LOW below."""
    if probability >= threshold:
        return RiskLevel.HIGH
    if probability >= threshold * hot_settings.SCORE_MEDIUM_RISK_FRACTION:
        return RiskLevel.MEDIUM
    return RiskLevel.LOW


def outcome_for(prediction: int, referred: bool) -> str:
    """The decision in words: ``refer`` when the refer rules say so, else the model's verdict."""
    if referred:
        return CreditDecisionOutcome.REFER
    return CreditDecisionOutcome.REFUSE if prediction else CreditDecisionOutcome.APPROVE


@dataclass(frozen=True)
class _Shadow:
    model_version_id: int
    probability: float | None  # None: the challenger cannot take these inputs
    prediction: int | None


def _shadow(
    challenger: LoadedModel | None, champion: LoadedModel, rows: Sequence[dict[str, Any]]
) -> list[_Shadow | None]:
    """The challenger's verdicts on the same inputs (stored, never returned), or Nones."""
    if challenger is None or challenger.model_version_id == champion.model_version_id:
        return [None] * len(rows)
    out: list[_Shadow | None] = []
    valid: list[tuple[int, dict[str, Any]]] = []
    for i, values in enumerate(rows):
        # A challenger may take other features: it sees the ones it knows.
        clean, errors = challenger.schema.validate({k: v for k, v in values.items() if k in challenger.schema})
        out.append(_Shadow(challenger.model_version_id, None, None))
        if not errors:
            valid.append((i, clean))
    if valid:
        probabilities = challenger.probabilities(challenger.schema.matrix([v for _, v in valid]))
        for (i, _), probability in zip(valid, probabilities, strict=True):
            p = min(max(float(probability), 0.0), 1.0)
            out[i] = _Shadow(challenger.model_version_id, p, int(p >= challenger.threshold))
    return out


def _links(
    requests: Sequence[ScoreRequest], batch: bool, *, clients_too: bool = True
) -> tuple[dict[str, Client], dict[str, CreditApplication]]:
    """The clients and applications the requests name; unknown client ids are created bare.

    Raises a ``ValidationError`` naming the field for an unknown application, or one that
    belongs to another client than the ``client_id`` sent with it. ``clients_too=False``
    leaves out the clients named without an application (the insert links them itself).
    """
    application_ids = {r.application_id for r in requests if r.application_id}
    applications = _applications_by_external_id(application_ids) if application_ids else {}
    errors: dict[str, str] = {}
    for i, r in enumerate(requests):
        prefix = f"items.{i}." if batch else ""
        if r.application_id:
            application = applications.get(r.application_id)
            if application is None:
                errors[f"{prefix}application_id"] = "Unknown application."
            elif r.client_id and application.client.client_id != r.client_id:
                errors[f"{prefix}application_id"] = "This application belongs to another client."
    if errors:
        raise ValidationError(errors)

    client_ids = {r.client_id for r in requests if r.client_id and not r.application_id} if clients_too else set()
    clients = {a.client.client_id: a.client for a in applications.values()}
    clients.update(_clients(client_ids - set(clients)))
    return clients, applications


_CLIENTS_PER_STATEMENT = 5000
_CLIENT_KEYS = ("id", "client_id")


def client_pks_get_or_create(*, client_ids: Iterable[str]) -> dict[str, int]:
    """The primary keys of the clients with these external ids, those unknown created bare (ids
    checked first): the one home of that rule, for ``/score``, ``/score/batch`` and batch chunks.

    Called inside the transaction that stores what links them, so that a failed insert takes
    the new clients with it. Concurrent transactions naming the same new client share one row:
    the unknown ids are inserted skipping conflicts (on PostgreSQL the second insert waits for
    the first transaction, then skips its committed row), then read back, the winner's row
    included. They are inserted in the order of their ids, so two transactions take those row
    locks in the same order and cannot deadlock. Thousands of ids (a batch chunk) go in
    statements of ``_CLIENTS_PER_STATEMENT``, still in that order.
    """
    wanted = sorted(set(client_ids))
    found = client_pks_find(client_ids=wanted)
    missing = [cid for cid in wanted if cid not in found]  # sorted
    if missing:
        client_ids_check(client_ids=missing)
        for start in range(0, len(missing), _CLIENTS_PER_STATEMENT):
            part = missing[start : start + _CLIENTS_PER_STATEMENT]
            Client.objects.bulk_create([Client(client_id=cid) for cid in part], ignore_conflicts=True)
            found.update(_client_pks_by_external_id(part))
    return found


def client_pks_find(*, client_ids: Iterable[str]) -> dict[str, int]:
    """The primary keys of the known clients among these external ids (none is created), in
    statements of ``_CLIENTS_PER_STATEMENT`` ids."""
    wanted = sorted(set(client_ids))
    found: dict[str, int] = {}
    for start in range(0, len(wanted), _CLIENTS_PER_STATEMENT):
        found.update(_client_pks_by_external_id(wanted[start : start + _CLIENTS_PER_STATEMENT]))
    return found


def _clients(client_ids: set[str]) -> dict[str, Client]:
    """The clients with these external ids, those unknown created bare (``client_pks_get_or_create``),
    holding only their key and id (the rest loads on access).

    A decision links its client and shows its external id; nothing else of the person is read.
    """
    if not client_ids:
        return {}
    alias = default_connection().alias
    return {
        cid: Client.from_db(alias, list(_CLIENT_KEYS), [pk, cid])
        for cid, pk in client_pks_get_or_create(client_ids=client_ids).items()
    }


def _client_pks_by_external_id(client_ids: Sequence[str]) -> dict[str, int]:
    """The primary keys of the clients with these external ids (at most a statement's worth).

    One plain statement instead of a compiled queryset: the ORM's compilation cost more than the
    indexed look-up itself on ``/score`` (docs/performance.md).
    """
    db = default_connection()  # once: each attribute of ``connection`` looks it up again
    table = db.ops.quote_name(Client._meta.db_table)
    placeholders = ", ".join(["%s"] * len(client_ids))
    with db.cursor() as cursor:
        cursor.execute(f"SELECT id, client_id FROM {table} WHERE client_id IN ({placeholders})", list(client_ids))
        rows = cursor.fetchall()
    return {row[1]: row[0] for row in rows}


_APPLICATION_KEYS = ("id", "application_id", "client_id")


def _applications_by_external_id(application_ids: set[str]) -> dict[str, CreditApplication]:
    """The applications with these external ids, each with its client, holding only their keys
    and ids (the rest loads on access), in one plain statement, as ``_client_pks_by_external_id``.

    A decision links its application and its client and shows both external ids; nothing
    else of either is read. Compiling the ORM's ``select_related`` queryset cost more CPU
    than the look-up itself (docs/performance.md, twelfth round).
    """
    db = default_connection()
    quote = db.ops.quote_name
    applications, clients = quote(CreditApplication._meta.db_table), quote(Client._meta.db_table)
    placeholders = ", ".join(["%s"] * len(application_ids))
    with db.cursor() as cursor:
        cursor.execute(
            f"SELECT a.id, a.application_id, a.client_id, c.client_id FROM {applications} AS a "
            f"JOIN {clients} AS c ON c.id = a.client_id WHERE a.application_id IN ({placeholders})",
            sorted(application_ids),
        )
        rows = cursor.fetchall()
    out = {}
    # ``from_db`` takes the values in the model's field order, whatever the order of the names.
    order = [f.attname for f in CreditApplication._meta.concrete_fields if f.attname in _APPLICATION_KEYS]
    for pk, external_id, client_pk, client_external_id in rows:
        by_name = {"id": pk, "application_id": external_id, "client_id": client_pk}
        application = CreditApplication.from_db(db.alias, order, [by_name[name] for name in order])
        application.client = Client.from_db(db.alias, list(_CLIENT_KEYS), [client_pk, client_external_id])
        out[str(external_id)] = application
    return out


def _decisions(
    model: LoadedModel, requests: Sequence[ScoreRequest], *, caller: str, batch: bool, clients_too: bool = True
) -> list[Decision]:
    """Score the requests together (one vectorised predict) and build their unsaved rows
    (``clients_too`` as for ``_links``)."""
    started = time.perf_counter()
    clients, applications = _links(requests, batch, clients_too=clients_too)
    rows = [r.features for r in requests]
    matrix = model.schema.matrix(rows)
    probabilities, contributions = model.score(matrix)
    missing_share = hot_settings.SCORE_REFER_MISSING_SHARE  # stored with each decision (exact replay)
    referred = model.referred(probabilities, matrix, missing_share)
    shadows = _shadow(get_model(model.purpose, ModelStatus.CHALLENGER), model, rows)
    per_row_ms = (time.perf_counter() - started) * 1000 / len(requests)
    decisions = []
    for i, (r, shadow) in enumerate(zip(requests, shadows, strict=True)):
        p = min(max(float(probabilities[i]), 0.0), 1.0)
        prediction = int(p >= model.threshold)
        application = applications.get(r.application_id) if r.application_id else None
        client = application.client if application else (clients.get(r.client_id) if r.client_id else None)
        reasons = model.reasons(contributions[i], r.features, hot_settings.SCORE_REASON_COUNT)
        decisions.append(
            Decision(
                client=client,
                application=application,
                # The registry row loaded with the model: no query to name the version.
                model_version=model.record,
                artifact_sha256=model.sha256,
                pipeline_version=PIPELINE_VERSION,
                features=r.features,
                probability_default=p,
                prediction=prediction,
                decision=outcome_for(prediction, bool(referred[i])),
                risk_level=risk_level_for(p, model.threshold),
                threshold_used=model.threshold,
                refer_lower_used=model.refer_lower,
                refer_upper_used=model.refer_upper,
                refer_missing_share_used=missing_share,
                reasons=[reason.as_dict() for reason in reasons],
                shadow_model_version_id=shadow.model_version_id if shadow else None,
                shadow_probability=shadow.probability if shadow else None,
                shadow_prediction=shadow.prediction if shadow else None,
                latency_ms=round(per_row_ms, 3),
                caller=caller[:100],
            )
        )
    return decisions


def _link_clients(decisions: Sequence[Decision], requests: Sequence[ScoreRequest]) -> None:
    """Link each decision whose request names a client without an application to that client,
    those unknown created bare (``_clients``): called inside the transaction that inserts the
    decisions, so a failed insert takes the new clients with it. Concurrent requests naming the
    same new client both link the one row (the insert skips a conflict, then reads the winner's)."""
    named = {r.client_id for r in requests if r.client_id and not r.application_id}
    if not named:
        return
    clients = _clients(named)
    for decision, r in zip(decisions, requests, strict=True):
        if r.client_id and not r.application_id:
            decision.client = clients[r.client_id]


def _mark_decided(decisions: Sequence[Decision]) -> None:
    """Mark the decisions' applications decided: ``QuerySet.update`` written as one plain
    statement (no signal either way), without compiling a queryset on every decision."""
    ids = sorted({d.application_id for d in decisions if d.application_id})
    if not ids:
        return
    db = default_connection()
    table = db.ops.quote_name(CreditApplication._meta.db_table)
    now = CreditApplication._meta.get_field("updated_at").get_db_prep_save(timezone.now(), db)
    placeholders = ", ".join(["%s"] * len(ids))
    with db.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET status = %s, updated_at = %s WHERE id IN ({placeholders})",
            [str(ApplicationStatus.DECIDED), now, *ids],
        )


def application_score(
    *,
    model: LoadedModel,
    request: ScoreRequest,
    caller: str,
    idempotency_key: str | None = None,
) -> ScoreOutcome:
    """Decide on one applicant with ``model``, store the decision, and return it.

    With an ``idempotency_key`` the same caller sending the same key again gets the
    stored decision back (even when both requests arrive together); the same key with a
    different applicant (``score_request_fingerprint``: the validated input, so ``50000``
    and ``50000.0`` are one) raises ``IdempotencyConflict``.
    """
    request_hash = (
        score_request_fingerprint(request.features, request.client_id, request.application_id)
        if idempotency_key
        else ""
    )
    if idempotency_key and _key_taken(caller, idempotency_key):
        existing = _replay(caller, idempotency_key, request_hash)
        if existing is not None:
            return existing
    # A client named without an application is linked by the decision's insert itself.
    by_client = request.client_id if request.client_id and not request.application_id else None
    decision = _decisions(model, [request], caller=caller, batch=False, clients_too=by_client is None)[0]
    decision.idempotency_key = idempotency_key or None
    decision.request_hash = request_hash
    try:
        if decision.application_id or decision.decision == CreditDecisionOutcome.REFER:
            with transaction.atomic():
                _store_decision(decision, by_client)
                _mark_decided([decision])
                if decision.decision == CreditDecisionOutcome.REFER:
                    # A referred decision opens its review case with it (docs/review.md).
                    review_cases_open_referred(decision_ids=[decision.pk])
        else:
            _store_decision(decision, by_client)  # one statement: autocommit, one round trip
    except IntegrityError as exc:
        if client_erased_meanwhile(exc):
            raise ValidationError({"client_id": CLIENT_ERASED}) from exc
        # A concurrent request with the same key won the insert: answer with its decision.
        replay = _replay(caller, idempotency_key, request_hash) if idempotency_key else None
        if replay is None:
            raise
        return replay
    decisions_recorded.send(sender=Decision, kind="credit", outcomes=[decision.decision])
    return ScoreOutcome(decision)


def _store_decision(decision: Decision, client_id: str | None) -> None:
    """Insert ``decision``; with ``client_id``, linked to that client by the same statement.

    A known client (the usual case) costs no statement of its own: the insert finds it by its
    external id. For an unknown one that insert stores nothing; the client is then created
    bare (its id checked first), as ``_links`` does, and the decision inserted linked to it,
    in one transaction: when that insert fails (a concurrent request won the same
    Idempotency-Key), the client created for it goes too, never left with no decision. Only
    this path pays the transaction; inside a caller's transaction it is a savepoint, so the
    caller can still read the winner's decision (``_replay``) after the failure.
    """
    if client_id is None:
        insert_row(decision)
        return
    key = insert_row_linked(decision, "client", "client_id", client_id)
    if key is not None:
        decision.client = Client.from_db(DEFAULT_DB_ALIAS, list(_CLIENT_KEYS), [key, client_id])
        return
    with transaction.atomic():  # a savepoint inside a caller's transaction: it survives the failure
        decision.client = _clients({client_id})[client_id]
        insert_row(decision)


def _key_taken(caller: str, key: str) -> bool:
    """Whether ``caller`` already stored a decision under ``key``: one prepared statement on the
    unique index. Most keys are new; ``_replay``'s queryset (three tables) cost more CPU to
    compile than a whole decision, so it runs only for a key this finds."""
    db = default_connection()
    table = db.ops.quote_name(Decision._meta.db_table)
    with db.cursor() as cursor:
        execute_prepared(
            cursor,
            "decision_key_taken",
            f"SELECT 1 FROM {table} WHERE caller = %s AND idempotency_key = %s",
            [caller[:100], key],
        )
        return cursor.fetchone() is not None


def _replay(caller: str, key: str, request_hash: str) -> ScoreOutcome | None:
    # (caller, idempotency_key) is unique: an unordered read, where ``first()`` would compile
    # and run the model's ordering on every replay (a quarter of a replay's CPU).
    rows = (
        Decision.objects.select_related("client", "application", "model_version")
        .filter(caller=caller[:100], idempotency_key=key)
        .order_by()
    )
    existing = next(iter(rows[:1]), None)
    if existing is None:
        return None
    stored = existing.request_hash  # emptied by an erasure: nothing left to compare
    if stored and not stored.startswith(FINGERPRINT_VERSION):
        # Stored before v2 (the hash of the body as sent): the decision's own input snapshot,
        # the validated features and links, gives the fingerprint it would have had.
        stored = score_request_fingerprint(
            existing.features,
            existing.client.client_id if existing.client else None,
            existing.application.application_id if existing.application else None,
        )
    if stored and request_hash and stored != request_hash:
        raise IdempotencyConflict("This Idempotency-Key was already used with a different request body.")
    return ScoreOutcome(existing, replayed=True)


def applications_score(
    *, model: LoadedModel, requests: Sequence[ScoreRequest], caller: str, idempotency_key: str | None = None
) -> list[Decision]:
    """Decide on several applicants at once (vectorised) and store them in one transaction.

    With an ``idempotency_key`` each decision is stored under its item's key
    (``batch_item_keys``) and fingerprint: the unique (caller, key) index then refuses a second
    copy of the batch. ``applications_score_once`` is what answers a retry.
    """
    if not requests:
        return []
    if len(requests) > settings.SCORE_BATCH_MAX_ITEMS:
        raise ValidationError({"items": f"At most {settings.SCORE_BATCH_MAX_ITEMS} applicants per call."})
    # Clients named without an application are created in the decisions' transaction, not
    # before it: when the insert fails, nothing of the batch is stored (no client left bare).
    decisions = _decisions(model, requests, caller=caller, batch=True, clients_too=False)
    if idempotency_key:
        keys = batch_item_keys(idempotency_key, len(requests))
        for decision, key, fingerprint in zip(decisions, keys, _fingerprints(requests), strict=True):
            decision.idempotency_key, decision.request_hash = key, fingerprint
    try:
        with transaction.atomic():
            _link_clients(decisions, requests)
            Decision.objects.bulk_create(decisions)
            _mark_decided(decisions)
            review_cases_open_referred(
                decision_ids=[d.pk for d in decisions if d.decision == CreditDecisionOutcome.REFER]
            )
    except IntegrityError as exc:
        if client_erased_meanwhile(exc):
            raise ValidationError({"client_id": CLIENT_ERASED}) from exc
        raise
    decisions_recorded.send(sender=Decision, kind="credit", outcomes=[d.decision for d in decisions])
    return decisions


@dataclass(frozen=True)
class BatchScoreOutcome:
    decisions: list[Decision]
    replayed: bool = False


BATCH_KEY_PREFIX = "batch:"
BATCH_KEY_CONFLICT = "This Idempotency-Key was already used with a different batch (other applicants, more or fewer)."


def batch_item_keys(key: str, count: int) -> list[str]:
    """The keys the items of a synchronous batch sent under ``key`` are stored under, in order.

    Each decision keeps its own key (the unique (caller, key) index is what refuses a second
    copy): ``batch:<digest of the caller's key>:<item>``. The digest keeps them within the
    column (a caller's key may take all 200 characters) and apart from the same key sent to
    ``/score``, which names one decision, not a batch.
    """
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return [f"{BATCH_KEY_PREFIX}{digest}:{item}" for item in range(count)]


def _fingerprints(requests: Sequence[ScoreRequest]) -> list[str]:
    return [score_request_fingerprint(r.features, r.client_id, r.application_id) for r in requests]


def _batch_replay(caller: str, idempotency_key: str, requests: Sequence[ScoreRequest]) -> list[Decision] | None:
    """The decisions of the batch ``caller`` stored under ``idempotency_key``, in item order; None
    when it stored none. ``IdempotencyConflict`` when they are not this batch's: an applicant
    that differs (the validated input, as for ``/score``), or more or fewer of them."""
    keys = batch_item_keys(idempotency_key, len(requests) + 1)  # one more: was the stored batch longer?
    stored = {
        d.idempotency_key: d
        for d in Decision.objects.select_related("client", "application", "model_version")
        .filter(caller=caller[:100], idempotency_key__in=keys)
        .order_by()
    }
    if not stored:
        return None
    if len(stored) != len(requests) or keys[-1] in stored:
        raise IdempotencyConflict(BATCH_KEY_CONFLICT)
    decisions = [stored[key] for key in keys[:-1]]
    for decision, fingerprint in zip(decisions, _fingerprints(requests), strict=True):
        # Emptied by an erasure: nothing left to compare (as for /score).
        if decision.request_hash and decision.request_hash != fingerprint:
            raise IdempotencyConflict(BATCH_KEY_CONFLICT)
    return decisions


def applications_score_once(
    *, model: LoadedModel, requests: Sequence[ScoreRequest], caller: str, idempotency_key: str | None
) -> BatchScoreOutcome:
    """``applications_score`` with the caller's ``Idempotency-Key``: the same caller sending the same
    key and applicants again gets the stored decisions back, none decided twice (also when both
    requests arrive together: the unique index decides, the loser reads the winner's rows); the
    same key with another batch raises ``IdempotencyConflict``. Without a key, a plain batch."""
    if not idempotency_key:
        return BatchScoreOutcome(applications_score(model=model, requests=requests, caller=caller))
    stored = _batch_replay(caller, idempotency_key, requests)
    if stored is not None:
        return BatchScoreOutcome(stored, replayed=True)
    try:
        decisions = applications_score(model=model, requests=requests, caller=caller, idempotency_key=idempotency_key)
    except IntegrityError:
        stored = _batch_replay(caller, idempotency_key, requests)
        if stored is None:
            raise
        return BatchScoreOutcome(stored, replayed=True)
    return BatchScoreOutcome(decisions)
