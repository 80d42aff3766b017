"""Load a LightGBM model file in a throwaway process: ``python -m scoring.ml.probe < model.txt``.

LightGBM's text parser does not survive every malformed file: some make the C++ library
abort the whole process instead of raising. A web or worker process must never run that
risk, so a file is first loaded here, in a child process; only a file that loads cleanly
is registered or activated (``scoring.ml.model.load_booster(..., isolated=True)``).
Prints ``{"features": [...]}`` on success, ``{"error": "..."}`` and exit status 2 on failure.
"""

from __future__ import annotations

import json
import sys


def main() -> int:
    import lightgbm as lgb

    text = sys.stdin.buffer.read().decode("utf-8")
    try:
        booster = lgb.Booster(model_str=text)
    except Exception as exc:  # LightGBMError, ValueError...: reported to the parent
        sys.stdout.write(json.dumps({"error": str(exc)[:300]}))
        return 2
    sys.stdout.write(json.dumps({"features": booster.feature_name(), "trees": booster.num_trees()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
