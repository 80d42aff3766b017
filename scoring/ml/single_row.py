"""One row at a time through LightGBM's single-row C API: ``Booster.predict``'s numbers, without its set-up.

``Booster.predict`` on one row spends most of its time before and after the trees: it
checks the input, parses its parameter string into a new configuration, builds a
predictor, copies the row and the result through several layers of Python. For the
default credit model that was 77-88 µs for a probability (5 µs here) and 202-236 µs for
TreeSHAP contributions (155 µs here, nearly all of it the TreeSHAP itself); ``/score``
and ``/fraude`` each pay one per request (docs/performance.md, "Sixth round").

LightGBM has an API for exactly this case (``LGBM_BoosterPredictForMatSingleRowFastInit``
once, then ``LGBM_BoosterPredictForMatSingleRowFast`` per row): the configuration and
predictor are built once, and each call only copies the row in and the answer out. It
runs the same C++ prediction code, so the numbers are the same to the last bit
(``tests/scoring/test_single_row.py`` compares them with ``Booster.predict`` on every
kind of value, missing ones and categories included).

LightGBM keeps the iteration range of the last prediction set up in the booster itself, so
a booster with a single-row predictor must only ever predict with every tree (the default):
one ``predict(..., start_iteration=t, num_iteration=1)`` on it would make the single-row
predictor compute tree ``t`` alone from then on. ``scoring.ml.explain``, which asks LightGBM
for one tree at a time (batch jobs' memo), does so on its own copy of the booster.

The Python package does not wrap that API, so it is called here through ctypes, on the
library and booster handle the package has loaded (``lightgbm.basic._LIB``,
``Booster._handle``: names private to lightgbm, pinned in requirements.txt, and checked
by the tests above on every upgrade).
"""

from __future__ import annotations

import ctypes
import threading
import weakref
from typing import Any

import lightgbm as lgb
import numpy as np
from lightgbm import basic

# c_api.h
_PREDICT_NORMAL = 0
_PREDICT_CONTRIB = 3
_DTYPE_FLOAT64 = 1


def _free(lib: Any, handle: ctypes.c_void_p) -> None:
    lib.LGBM_FastConfigFree(handle)


class SingleRowPredictor:
    """``booster.predict(row.reshape(1, -1), num_threads=1[, pred_contrib=True])[0]``, faster.

    ``contributions=False``: the probability (an array of one value); ``True``: TreeSHAP
    contributions, one per feature plus the bias. Binary models only (one value per row,
    one tree per iteration). Thread-safe: the input and output buffers are shared, so a
    call holds a lock (for a few microseconds).
    """

    def __init__(self, booster: lgb.Booster, *, contributions: bool) -> None:
        if booster.num_model_per_iteration() != 1:
            raise ValueError("single-row prediction serves binary models (one tree per iteration)")
        self._booster = booster  # the fast configuration points into it: keep it alive
        self._lib = basic._LIB
        features = booster.num_feature()
        handle = ctypes.c_void_p()
        basic._safe_call(
            self._lib.LGBM_BoosterPredictForMatSingleRowFastInit(
                booster._handle,
                ctypes.c_int(_PREDICT_CONTRIB if contributions else _PREDICT_NORMAL),
                ctypes.c_int(0),  # start iteration
                ctypes.c_int(-1),  # every iteration (the model as saved: its best iteration)
                ctypes.c_int(_DTYPE_FLOAT64),
                ctypes.c_int32(features),
                basic._c_str("num_threads=1"),
                ctypes.byref(handle),
            )
        )
        weakref.finalize(self, _free, self._lib, handle)
        self._input = np.zeros(features, dtype=np.float64)
        self._output = np.zeros(features + 1 if contributions else 1, dtype=np.float64)
        self._length = ctypes.c_int64()
        self._arguments = (
            handle,
            ctypes.c_void_p(self._input.ctypes.data),
            ctypes.byref(self._length),
            self._output.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
        )
        self._predict = self._lib.LGBM_BoosterPredictForMatSingleRowFast
        self._lock = threading.Lock()

    def __call__(self, row: np.ndarray) -> np.ndarray:
        with self._lock:
            self._input[:] = row  # a shape that does not fit raises here, before LightGBM reads it
            if self._predict(*self._arguments) != 0:
                raise basic.LightGBMError(self._lib.LGBM_GetLastError().decode("utf-8"))
            return self._output.copy()
