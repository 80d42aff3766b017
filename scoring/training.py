"""Registering what training produced: shared by ``train_credit_model`` and ``train_fraud_model``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from scoring.choices import ModelStatus
from scoring.ml.datasets import TrainingData
from scoring.ml.model import sha256_hex
from scoring.models import ModelVersion
from scoring.services import model_version_activate, model_version_register


@dataclass(frozen=True)
class Registered:
    model_version: ModelVersion
    created: bool  # False: the same model file was already registered
    activated_as: str | None
    promotion: Any = None  # the promotion request filed (``requested_by``), when four eyes are on


def trained_model_register(
    *,
    purpose: str,
    data: TrainingData,
    model_text: bytes,
    threshold: float,
    metrics: dict[str, Any],
    reference: dict[str, Any],
    version: str | None = None,
    activate: str | None = None,
    requested_by: Any = None,
    notes: str = "",
) -> Registered:
    """Register a trained model (once per distinct file) and activate it when asked.

    ``activate`` is ``"champion"``, ``"challenger"`` or None; with None the model becomes the
    champion only when its purpose has none yet, so a fresh install can serve at once.
    While four eyes are on, any other activation is a promotion (``model_version_activate_check``):
    the platform's own is refused (``PermissionDenied``, the version stays registered as a
    draft), and with ``requested_by`` (an admin) a promotion request is filed in their name
    for a second admin to approve.
    """
    sha = sha256_hex(model_text)
    existing = ModelVersion.objects.filter(purpose=purpose, sha256=sha).first()
    created = existing is None
    if existing is not None and existing.feature_schema != data.schema.to_list():
        # Same file, other accepted names (aliases): a registered version never changes what it
        # accepts behind its callers' backs.
        raise ValueError(
            f"This model file is already registered as {existing.version} with another input schema "
            "(aliases or labels differ); train with another --seed to register a new version."
        )
    if existing is None:
        existing = model_version_register(
            purpose=purpose,
            version=version or f"{purpose}-{sha[:10]}",
            artifact=model_text,
            feature_schema=data.schema.to_list(),
            threshold=threshold,
            metrics=metrics,
            dataset=data.dataset[:200],
            reference_data=reference,
            notes="\n".join([notes, *data.notes]).strip(),
        )
    if activate is None and not ModelVersion.objects.filter(purpose=purpose, status=ModelStatus.CHAMPION).exists():
        activate = ModelStatus.CHAMPION
    if activate is None or existing.status == activate:
        return Registered(existing, created, activate)
    if requested_by is not None:
        from governance.models import PromotionStatus
        from governance.promotion import promotion_request_create

        request = promotion_request_create(
            user=requested_by,
            model_version=existing,
            target_status=activate,
            reason=f"train_{purpose}_model: {existing.version} trained and registered; to become {activate}.",
        )
        if request.status == PromotionStatus.PENDING:
            return Registered(existing, created, None, promotion=request)
        existing.refresh_from_db()  # four eyes off: carried out at once
        return Registered(existing, created, activate, promotion=request)
    return Registered(model_version_activate(model_version=existing, status=activate), created, activate)


# --- What the training commands share ------------------------------------------------------


def add_registration_arguments(parser: Any, purpose: str) -> None:
    """``--name``, ``--activate`` | ``--challenger`` and ``--json`` of ``train_<purpose>_model``."""
    parser.add_argument("--name", help=f"Version name (default: {purpose}-<sha256 prefix>).")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--activate", action="store_true", help="Make it the champion.")
    group.add_argument("--challenger", action="store_true", help="Make it the challenger (shadow scoring).")
    parser.add_argument(
        "--requested-by",
        metavar="ADMIN",
        help="With --activate or --challenger while four eyes are on (PROMOTION_FOUR_EYES): file the promotion "
        "request as this admin (a username); a second admin approves it. Without it the activation is refused "
        "and the version stays a draft (the first champion of a fresh install excepted).",
    )
    parser.add_argument("--json", action="store_true", help="Print the metrics as JSON.")


@contextmanager
def registration_errors() -> Iterator[None]:
    """The registration's refusals as the command's error: a file registered with another schema
    (``ValueError``), an activation four eyes refuse (``PermissionDenied``: the version stays a
    draft), a promotion request refused (``ValidationError``, e.g. one already pending)."""
    from django.core.exceptions import PermissionDenied, ValidationError
    from django.core.management.base import CommandError

    try:
        yield
    except PermissionDenied as exc:
        raise CommandError(
            f"{exc} The version stays registered as a draft: pass --requested-by ADMIN to file the request from here."
        ) from exc
    except ValidationError as exc:
        raise CommandError(" ".join(exc.messages) + " Nothing activated.") from exc
    except ValueError as exc:
        raise CommandError(str(exc)) from exc


def registration_name_check(options: dict[str, Any], purpose: str) -> None:
    """``--name``'s pattern, before the training (the registry's rule, ``model_version_name_check``);
    a name already taken is refused at registration, where a file already registered is reused."""
    from django.core.management.base import CommandError

    from scoring.services import ModelVersionRefused, model_version_name_check

    if options.get("name") is None:
        return
    try:
        model_version_name_check(purpose=purpose, version=options["name"], taken=False)
    except ModelVersionRefused as exc:
        raise CommandError(f"--name: {exc}") from exc


def registration_requester(options: dict[str, Any]) -> Any:
    """The active admin ``--requested-by`` names (None without it); ``CommandError`` otherwise."""
    from django.contrib.auth import get_user_model
    from django.core.management.base import CommandError

    username = options.get("requested_by")
    if not username:
        return None
    if not (options.get("activate") or options.get("challenger")):
        raise CommandError("--requested-by goes with --activate or --challenger.")
    from governance.promotion import APPROVE_PERMISSION

    admin = get_user_model().objects.filter(username=username, is_active=True).first()
    # The role too, before the training: promotion_request_create refuses anyone else afterwards.
    if admin is None or not admin.has_perm(APPROVE_PERMISSION):
        raise CommandError("--requested-by names an active admin (a username).")
    return admin


def activation_requested(options: dict[str, Any]) -> str | None:
    """The status ``--activate`` / ``--challenger`` ask for (None: champion only if there is none)."""
    if options.get("challenger"):
        return ModelStatus.CHALLENGER
    return ModelStatus.CHAMPION if options.get("activate") else None


def training_report(
    data: TrainingData,
    metrics: dict[str, Any],
    *,
    positive: str,
    adverse: str,
    per: str,
    required_label: str,
    extra: str = "",
    policies: tuple[str, str] = ("accept all", "refuse all"),
) -> str:
    """The lines a training command prints: data, held-out figures, threshold, costs."""
    m, cm = metrics, metrics["confusion_matrix"]
    notes = "".join(f"  note: {note}\n" for note in data.notes)
    return (
        f"Data set: {data.dataset}\n{notes}"
        f"Features ({len(data.schema)}): {', '.join(data.schema.names)}\n"
        f"Rows: {m['n_train']} train / {m['n_test']} held out; {positive} rate {m['positive_rate']:.2%}; "
        f"{m['num_trees']} trees\n"
        f"Held-out AUC {m['auc']:.4f}  Gini {m['gini']:.4f}  KS {m['ks']:.4f}  "
        f"({required_label}: AUC {m['auc_required_only']:.4f})\n"
        f"Threshold {m['threshold']:.3f} (minimises {m['cost_false_negative']:g} x FN + "
        f"{m['cost_false_positive']:g} x FP, chosen out-of-fold)\n"
        f"Confusion at threshold: TP {cm['true_positive']}  FP {cm['false_positive']}  "
        f"TN {cm['true_negative']}  FN {cm['false_negative']}  ({adverse} rate {m['refusal_rate']:.2%}{extra})\n"
        f"Business cost on the hold-out set: {m['business_cost']:g} ({m['business_cost_per_application']:.3f} "
        f"per {per}); {policies[0]} {m['business_cost_accept_all']:g}, {policies[1]} "
        f"{m['business_cost_refuse_all']:g}, threshold 0.5 {m['business_cost_at_0_5']:g}"
    )


def registered_line(registered: Registered) -> str:
    version = registered.model_version
    state = "registered" if registered.created else "already registered (same model file)"
    line = f"Model {version.version} {state}; status {version.status}."
    request = registered.promotion
    if request is not None and registered.activated_as is None:
        line += (
            f" Promotion request #{request.pk} filed by {request.requested_by.get_username()}: "
            f"{request.target_label}. A second admin approves it under Model governance, Promotion requests."
        )
    return line
