"""The registry's models, loaded once per process and swapped without a restart.

``get_model(purpose)`` returns the current champion as a ``LoadedModel`` (or ``None``).
It asks the database which version is the champion at most every
``MODEL_REFRESH_SECONDS`` (one indexed query), and at once in the process that changed
the registry (a ``post_save`` receiver calls ``invalidate``). A new version is loaded and
checked *before* it replaces the old one, under a lock, so concurrent requests keep
getting the old model until the new one is complete; a request never sees a half-loaded
model. A version whose artifact fails its checks is never served: requests get a 503
until the registry is fixed, and the failure is logged once per version.

Web processes load lazily on the first request; Celery workers warm up in
``worker_process_init`` (``creditplatform/celery.py``); ``reset_models()`` is for tests.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from creditplatform.hot_settings import hot_settings
from scoring.choices import ModelStatus
from scoring.ml.model import ArtifactError, LoadedModel, load_booster, objective_sigmoid
from scoring.ml.schema import FeatureSchema, SchemaError

logger = logging.getLogger(__name__)


# How often a process tries again a champion whose file failed its checks (one read of the
# file and its SHA-256: negligible at this pace, and never on the path of a served model).
BROKEN_MODEL_RETRY_SECONDS = 10.0


class ModelUnavailable(Exception):
    """No usable model for this purpose: none registered (``broken`` False), or its file failed its checks."""

    def __init__(self, message: str, *, broken: bool = False) -> None:
        super().__init__(message)
        self.broken = broken


# (id, sha256, threshold, refer_lower, refer_upper) of a version: a change to any reloads it.
_VersionKey = tuple[int, str, float, float | None, float | None]


@dataclass
class _Slot:
    model: LoadedModel | None = None
    key: _VersionKey | None = None  # what is loaded
    checked_at: float = float("-inf")
    broken_key: _VersionKey | None = None  # a version that failed to load
    broken_at: float = float("-inf")  # when it last failed (monotonic)
    logged_key: _VersionKey | None = None  # the failure already logged
    lock: threading.Lock = field(default_factory=threading.Lock)


class ModelCache:
    """One slot per (purpose, status); thread-safe (gunicorn threads, Celery threads)."""

    def __init__(self) -> None:
        self._slots: dict[tuple[str, str], _Slot] = {}
        self._pinned: dict[int, LoadedModel] = {}  # versions asked for by id (batch jobs), newest last
        self._pinned_lock = threading.Lock()

    def get(self, purpose: str, status: str = ModelStatus.CHAMPION) -> LoadedModel | None:
        slot = self._slots.get((purpose, status))
        if slot is not None and time.monotonic() - slot.checked_at < hot_settings.MODEL_REFRESH_SECONDS:
            return slot.model
        return self._refresh(self._slots.setdefault((purpose, status), _Slot()), purpose, status)

    def invalidate(self) -> None:
        """Make the next ``get`` re-read the registry (called when a version is saved)."""
        for slot in list(self._slots.values()):
            slot.checked_at = float("-inf")

    def reset(self) -> None:
        self._slots.clear()
        self._pinned.clear()

    def version(self, model_version_id: int) -> LoadedModel | None:
        """A registered version by id, whatever its status now (a batch job keeps the version it began with)."""
        for slot in list(self._slots.values()):
            if slot.model is not None and slot.model.model_version_id == model_version_id:
                return slot.model
        with self._pinned_lock:
            loaded = self._pinned.get(model_version_id)
            if loaded is None:
                loaded = self._load(model_version_id)
                if loaded is None:
                    return None
                while len(self._pinned) >= 2:
                    self._pinned.pop(next(iter(self._pinned)))
                self._pinned[model_version_id] = loaded
            return loaded

    def broken(self, purpose: str, status: str = ModelStatus.CHAMPION) -> bool:
        """Whether the last ``get`` found a registered version whose file cannot be used."""
        slot = self._slots.get((purpose, status))
        return slot is not None and slot.model is None and slot.broken_key is not None

    def _refresh(self, slot: _Slot, purpose: str, status: str) -> LoadedModel | None:
        from scoring.models import ModelVersion

        # While one thread checks (and maybe loads), the others keep serving the current
        # model; only a process with nothing loaded yet waits for the first load.
        if not slot.lock.acquire(blocking=slot.model is None):
            return slot.model
        try:
            current = (
                ModelVersion.objects.filter(purpose=purpose, status=status)
                .values_list("id", "sha256", "threshold", "refer_lower", "refer_upper")
                .first()
            )
            if current is None:
                slot.model, slot.key, slot.broken_key = None, None, None
            elif current == slot.broken_key and time.monotonic() - slot.broken_at < BROKEN_MODEL_RETRY_SECONDS:
                slot.model = None
            elif current != slot.key:
                try:
                    loaded = self._load(current[0])  # complete and checked before anyone sees it
                except _Refused as exc:
                    if current != slot.logged_key:  # once per version, not at every retry
                        logger.error("model %s refused: %s", exc.what, exc.reason)
                        slot.logged_key = current
                    slot.model, slot.key, slot.broken_key, slot.broken_at = None, None, current, time.monotonic()
                else:
                    if current == slot.logged_key:
                        logger.warning("model %s: its file passes its checks again", loaded.describe())
                    slot.model, slot.key, slot.broken_key, slot.logged_key = loaded, current, None, None
            slot.checked_at = time.monotonic()
            return slot.model
        finally:
            slot.lock.release()

    @staticmethod
    def _load(model_version_id: int) -> LoadedModel:
        from scoring.models import ModelVersion

        row = (
            ModelVersion.objects.select_related("artifact_file")
            .only(
                "id",
                "version",
                "purpose",
                "threshold",
                "refer_lower",
                "refer_upper",
                "sha256",
                "feature_schema",
                "artifact_file__content",
            )
            .filter(id=model_version_id)
            .first()
        )
        if row is None:
            raise _Refused(f"#{model_version_id}", "the version was deleted meanwhile")
        try:
            schema = FeatureSchema.from_list(row.feature_schema)
            content = bytes(row.artifact_file.content)
            booster = load_booster(content, schema, expected_sha256=row.sha256)
        except ModelVersion.artifact_file.RelatedObjectDoesNotExist as exc:
            raise _Refused(f"{row.purpose} {row.version}", "its model file is missing") from exc
        except (ArtifactError, SchemaError) as exc:
            raise _Refused(f"{row.purpose} {row.version}", str(exc)) from exc
        logger.info("model %s %s loaded", row.purpose, row.version)
        return LoadedModel(
            model_version_id=row.id,
            version=row.version,
            purpose=row.purpose,
            threshold=float(row.threshold),
            sha256=row.sha256,
            schema=schema,
            booster=booster,
            sigmoid=objective_sigmoid(content),
            record=ModelVersion.objects.only("id", "purpose", "version").get(pk=row.pk),
            refer_lower=row.refer_lower,
            refer_upper=row.refer_upper,
        )


class _Refused(Exception):
    def __init__(self, what: str, reason: str) -> None:
        super().__init__(f"{what}: {reason}")
        self.what, self.reason = what, reason


models = ModelCache()


def get_model(purpose: str, status: str = ModelStatus.CHAMPION) -> LoadedModel | None:
    """The loaded model in ``status`` for ``purpose``, or None."""
    return models.get(purpose, status)


def require_model(purpose: str) -> LoadedModel:
    """The champion for ``purpose``; raises ``ModelUnavailable`` when there is none to serve."""
    model = models.get(purpose)
    if model is None:
        if models.broken(purpose):
            raise ModelUnavailable(
                f"The {purpose} champion's model file is missing or fails its checks; nothing was decided.",
                broken=True,
            )
        raise ModelUnavailable(f"No usable {purpose} model is registered as champion.")
    return model


def require_model_version(model_version_id: int) -> LoadedModel:
    """A registered version by id; raises ``ModelUnavailable`` when it is gone or its file fails its checks."""
    model = models.version(model_version_id)
    if model is None:
        raise ModelUnavailable(f"Model version {model_version_id} cannot be loaded.")
    return model


def reset_models() -> None:
    models.reset()
