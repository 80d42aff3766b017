"""The version of the feature pipeline a decision went through, stored on every decision.

A decision is replayed exactly by the same model file (its SHA-256, also stored) *and* the
same code from input snapshot to probability and reasons: ``FeatureSchema.validate`` and
``matrix`` (scoring/ml/schema.py), ``LoadedModel.score`` and ``reasons``
(scoring/ml/model.py), and LightGBM itself. Bump ``FEATURE_PIPELINE`` whenever that code
changes what it computes; LightGBM's version is added by itself. ``replay_decisions``
reports a decision made under another pipeline version.
"""

from __future__ import annotations

import lightgbm

FEATURE_PIPELINE = "1"
PIPELINE_VERSION = f"{FEATURE_PIPELINE}+lightgbm-{lightgbm.__version__}"
