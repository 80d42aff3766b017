"""The drift report's baseline: Evidently alone on in-memory frames, no database.

``python bench/drift_baseline.py ROWS``: the champion's reference sample (read once from
the registry) against ROWS applicants drawn from the same data set, compared by the same
``monitoring.drift.drift_compare`` the report uses. Prints ``BASELINE {json}``: the
seconds of the comparison alone (frames already built).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "creditplatform.settings")


def main(rows: int) -> dict[str, object]:
    import django

    django.setup()
    from django.conf import settings

    from monitoring.drift import drift_compare, frame_from_rows
    from monitoring.services import SCORE_COLUMN, _kinds
    from scoring.choices import ModelPurpose, ModelStatus
    from scoring.models import ModelVersion

    champion = ModelVersion.objects.select_related("artifact_file").get(
        purpose=ModelPurpose.CREDIT, status=ModelStatus.CHAMPION
    )
    kinds = _kinds(champion.feature_schema)
    reference_data = champion.artifact_file.reference_data
    reference = frame_from_rows(reference_data["rows"], reference_data["columns"], kinds)
    current = reference.sample(n=rows, replace=True, random_state=3).reset_index(drop=True)
    started = time.perf_counter()
    comparison = drift_compare(reference=reference, current=current, kinds=kinds, min_values=settings.DRIFT_MIN_ROWS)
    seconds = time.perf_counter() - started
    drifted = sum(c.drifted for name, c in comparison.columns.items() if name != SCORE_COLUMN)
    return {"rows": rows, "compare_seconds": round(seconds, 2), "drifted_features": drifted}


if __name__ == "__main__":
    print("BASELINE " + json.dumps(main(int(sys.argv[1]))))
