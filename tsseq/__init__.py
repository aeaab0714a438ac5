"""tsseq: time-series forecasting and anomaly detection on PyTorch.

The public names below are imported on first use, so ``import tsseq`` stays light
(no torch, scikit-learn, statsmodels, MLflow or Optuna until they are needed).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "read_csv": "tsseq.data.csv",
    "check_series": "tsseq.data.checks",
    "load": "tsseq.data.catalog",
    "make_windows": "tsseq.data.windows",
    "AR": "tsseq.baselines",
    "Naive": "tsseq.baselines",
    "SeasonalNaive": "tsseq.baselines",
    "Drift": "tsseq.baselines",
    "Mean": "tsseq.baselines",
    "Naive2": "tsseq.baselines",
    "VAR": "tsseq.var",
    "Linear": "tsseq.linear",
    "RNNForecaster": "tsseq.estimators",
    "Seq2SeqForecaster": "tsseq.estimators",
    "TransformerForecaster": "tsseq.estimators",
    "PatchTSTForecaster": "tsseq.estimators",
    "TransformerSeq2SeqForecaster": "tsseq.estimators",
    "DecoderOnlyForecaster": "tsseq.estimators",
    "ReconstructionDetector": "tsseq.anomaly",
    "ForecastResidualDetector": "tsseq.anomaly",
    "OnlineResidualDetector": "tsseq.anomaly",
    "TrainingConfig": "tsseq.engine",
    "Trainer": "tsseq.engine",
    "create": "tsseq.registry",
    "load_model": "tsseq.persistence",
    "evaluate_ett": "tsseq.protocols",
    "evaluate_m4": "tsseq.protocols",
    "run_pipeline": "tsseq.pipeline",
}
_RENAMED = {"run_pipeline": "run_file", "load_model": "load"}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'tsseq' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), _RENAMED.get(name, name))
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
