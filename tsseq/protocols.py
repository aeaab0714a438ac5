"""Published evaluation protocols (ETT long-horizon, M4) on top of any tsseq forecaster.

Both follow the standard protocols word for word (see the benchmark data README and
the papers), so that a figure here compares with the published tables:

* :func:`evaluate_ett`: ETTh1/ETTh2/ETTm1/ETTm2 long-horizon forecasting (Zhou et al.,
  Informer, 2021): fixed 12/4/4-month split, every column standardised with the train
  mean and population standard deviation, MSE and MAE on that scale averaged over
  every test window (stride 1), horizon step and channel.
* :func:`evaluate_m4`: M4 (Makridakis et al., 2020): forecast the held-out values of
  every series from its training values; sMAPE, MASE and OWA against Naive2.

A forecaster is used through :class:`tsseq.base.Forecaster`: ``fit(frame)`` once,
then ``predict_windows`` (ETT) or ``predict`` (M4).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tsseq.base import Forecaster, check_positive_int
from tsseq.data.scaling import Scaler
from tsseq.data.splits import PRESETS, split_preset
from tsseq.data.windows import Windows, make_windows
from tsseq.errors import ConfigError, DataError, closest_match
from tsseq.metrics import mae, mase, mse, owa, seasonal_naive_scale, smape

__all__ = ["EttResult", "M4Result", "M4_FREQUENCIES", "evaluate_ett", "evaluate_m4"]

ETT_TARGET = "OT"
ETT_SETTINGS = ("M", "S")
# M4 horizon and seasonal period per frequency (Makridakis et al., 2020, table 1).
M4_FREQUENCIES: dict[str, tuple[int, int]] = {
    "Yearly": (6, 1),
    "Quarterly": (8, 4),
    "Monthly": (18, 12),
    "Weekly": (13, 1),
    "Daily": (14, 1),
    "Hourly": (48, 24),
}


def _model_name(forecaster: Forecaster) -> str:
    return getattr(forecaster, "registry_name", type(forecaster).__name__)


@dataclass(frozen=True)
class EttResult:
    """MSE and MAE of one ETT run, with the configuration that produced them.

    ``n_windows`` is the number of test windows averaged over: ``2881 - H`` for ETTh
    (``L`` does not change it), or ``batch_size * floor(...)`` of them with ``drop_last``.
    """

    model: str
    dataset: str
    setting: str
    input_length: int
    horizon: int
    n_windows: int
    drop_last: bool
    mse: float
    mae: float

    def to_dict(self) -> dict[str, object]:
        return {"protocol": "ett", **asdict(self)}


@dataclass(frozen=True)
class M4Result:
    """sMAPE (percent), MASE and OWA of one M4 run, with Naive2's figures for reference."""

    model: str
    dataset: str
    horizon: int
    season_length: int
    n_series: int
    smape: float
    mase: float
    owa: float
    smape_naive2: float
    mase_naive2: float

    def to_dict(self) -> dict[str, object]:
        return {"protocol": "m4", **asdict(self)}


def _load(name: str, data_dir: str | Path | None):
    # Imported here: the catalog pulls in file and download handling that metrics users do not need.
    from tsseq.data.catalog import load

    return load(name, data_dir=data_dir)


def evaluate_ett(
    forecaster: Forecaster,
    *,
    dataset: str = "ETTh1",
    setting: str = "M",
    input_length: int = 96,
    horizon: int = 96,
    drop_last: bool = False,
    batch_size: int = 32,
    data_dir: str | Path | None = None,
    frame: pd.DataFrame | None = None,
) -> EttResult:
    """Run the ETT long-horizon protocol.

    Steps: take the standard split of ``dataset`` (ETTh: train rows ``[0, 8640)``,
    test ``[11520 - L, 14400)``); standardise with train statistics; fit
    ``forecaster`` on the scaled train frame; forecast every test window
    ``(N, L, C) -> (N, H, C)`` with ``predict_windows`` in batches of ``batch_size``;
    average squared and absolute errors over windows, steps and channels.

    Parameters
    ----------
    forecaster : Forecaster
        Unfitted; it is fitted here on the scaled train frame (7 channels for
        setting ``"M"``, ``OT`` alone for ``"S"``), with the scaled validation rows
        (``[8640 - L, 11520)`` for ETTh) as ``validation``.
    dataset : {"ETTh1", "ETTh2", "ETTm1", "ETTm2"}
        Selects the split; the data come from the catalog unless ``frame`` is given.
    setting : {"M", "S"}
        ``"M"``: all columns in and out; ``"S"``: only ``OT``.
    input_length, horizon : int
        ``L`` and ``H``. ETTh has ``2881 - H`` test windows.
    drop_last : bool
        Average over ``batch_size * floor(N / batch_size)`` windows as the published
        reference code does (its test loader drops the last incomplete batch).
    batch_size : int
        Windows per ``predict_windows`` call (and the batch of ``drop_last``).
    data_dir : path, optional
        Where the benchmark files are (see :func:`tsseq.data.catalog.load`).
    frame : DataFrame, optional
        The wide data frame to use instead of loading ``dataset``.

    Returns
    -------
    EttResult
    """
    if dataset not in PRESETS:
        raise ConfigError(
            f"Unknown ETT dataset {dataset!r}.{closest_match(dataset, PRESETS)} Known: {', '.join(PRESETS)}."
        )
    if setting not in ETT_SETTINGS:
        raise ConfigError(f"The 'setting' parameter must be 'M' or 'S'. Got {setting!r} instead.")
    input_length = check_positive_int(input_length, "input_length")
    horizon = check_positive_int(horizon, "horizon")
    batch_size = check_positive_int(batch_size, "batch_size")
    if frame is None:
        frame = _load(dataset, data_dir).frame
    if setting == "S":
        if ETT_TARGET not in frame.columns:
            raise DataError(f"Setting 'S' forecasts the {ETT_TARGET!r} column; the frame has {list(frame.columns)}.")
        frame = frame[[ETT_TARGET]]
    split = split_preset(frame, dataset, input_length=input_length)
    scaler = Scaler("standard").fit(split.train)
    # The validation rows serve early stopping of neural models; closed-form ones ignore them.
    forecaster.fit(scaler.transform(split.train), validation=scaler.transform(split.validation))
    windows = make_windows(scaler.transform(split.test).to_numpy(), input_length, horizon)
    n_windows = len(windows)
    if drop_last:
        n_windows = batch_size * (n_windows // batch_size)
        if n_windows == 0:
            raise DataError(f"drop_last leaves no window: {len(windows)} test windows < batch_size={batch_size}.")
    squared, absolute = _window_errors(forecaster, windows, n_windows, horizon, batch_size)
    return EttResult(
        model=_model_name(forecaster),
        dataset=dataset,
        setting=setting,
        input_length=input_length,
        horizon=horizon,
        n_windows=n_windows,
        drop_last=drop_last,
        mse=squared,
        mae=absolute,
    )


def _window_errors(
    forecaster: Forecaster, windows: Windows, n_windows: int, horizon: int, batch_size: int
) -> tuple[float, float]:
    """MSE and MAE over the first ``n_windows`` windows, forecast ``batch_size`` at a time."""
    squared_sum = absolute_sum = 0.0
    observed = 0
    for start in range(0, n_windows, batch_size):
        batch = slice(start, min(start + batch_size, n_windows))
        inputs, targets = windows.inputs[batch].numpy(), windows.targets[batch].numpy()
        mask = None
        if windows.input_mask is not None:
            # The forecaster contract marks unobserved inputs with NaN, not with the windows' 0 fill.
            inputs = np.where(windows.input_mask[batch].numpy(), inputs, np.nan)
            mask = windows.target_mask[batch].numpy()
        count = targets.size if mask is None else int(mask.sum())
        if count == 0:
            continue  # no observed target in this batch
        forecast = forecaster.predict_windows(inputs, horizon)
        # Batch means weighted by their element counts give the mean over all windows.
        squared_sum += mse(targets, forecast, mask=mask) * count
        absolute_sum += mae(targets, forecast, mask=mask) * count
        observed += count
    if observed == 0:
        raise DataError("The test windows have no observed (non-NaN) target value to score.")
    return squared_sum / observed, absolute_sum / observed


def _per_series_values(frame: pd.DataFrame, series_ids: pd.Index, horizon: int, what: str) -> np.ndarray:
    """A long frame with ``horizon`` rows per series -> ``(S, H, C)`` in the order of ``series_ids``."""
    counts = frame.groupby(level=0, sort=False).size()
    missing = series_ids.difference(counts.index)
    if len(missing):
        raise DataError(f"The {what} has no rows for {len(missing)} series, e.g. {missing[0]!r}.")
    wrong = counts[counts != horizon]
    if len(wrong):
        raise DataError(
            f"The {what} must have {horizon} rows per series; series {wrong.index[0]!r} has {wrong.iloc[0]}."
        )
    ordered = frame.loc[list(series_ids)] if not counts.index.equals(series_ids) else frame
    return ordered.to_numpy(dtype=np.float64).reshape(len(series_ids), horizon, -1)


def evaluate_m4(
    forecaster: Forecaster,
    *,
    frequency: str = "Hourly",
    data_dir: str | Path | None = None,
    train: pd.DataFrame | None = None,
    test: pd.DataFrame | None = None,
) -> M4Result:
    """Run the M4 protocol for one frequency (Hourly: horizon 48, season length 24).

    ``forecaster`` is fitted once on the long frame of all training series and
    predicts the next ``H`` values of each. sMAPE (percent) and MASE (scaled by each
    series' in-sample lag-``m`` mean absolute difference) are averaged over series;
    OWA compares those averages with Naive2's (:class:`tsseq.baselines.Naive2`,
    fitted on the same data).

    Parameters
    ----------
    forecaster : Forecaster
        Unfitted; fitted here on the training frame.
    frequency : {"Yearly", "Quarterly", "Monthly", "Weekly", "Daily", "Hourly"}
        Selects the data set ``"m4-<frequency>"`` of the catalog, the horizon and ``m``.
    data_dir : path, optional
        Where the benchmark files are.
    train, test : long DataFrames, optional
        ``(series id, timestamp)``-indexed training values and the ``H`` held-out
        values per series, instead of loading them from the catalog.

    Returns
    -------
    M4Result
    """
    from tsseq.baselines import Naive2  # baselines import statsmodels; only needed here

    if frequency not in M4_FREQUENCIES:
        raise ConfigError(
            f"Unknown M4 frequency {frequency!r}.{closest_match(frequency, M4_FREQUENCIES)} "
            f"Known: {', '.join(M4_FREQUENCIES)}."
        )
    horizon, season_length = M4_FREQUENCIES[frequency]
    dataset = f"m4-{frequency.lower()}"
    if (train is None) != (test is None):
        raise ConfigError("Pass both train= and test= frames, or neither (to load them from the catalog).")
    if train is None:
        loaded = _load(dataset, data_dir)
        train, test = loaded.frame, loaded.test
    series_ids = train.index.get_level_values(0).unique()
    truth = _per_series_values(test, series_ids, horizon, "test frame")
    # One scale per series, broadcast over its horizon and channels.
    groups = train.groupby(level=0, sort=False)
    scales = np.stack([seasonal_naive_scale(group.to_numpy(dtype=np.float64), season_length) for _, group in groups])
    scales = scales.reshape(len(series_ids), 1, -1)
    figures = {}
    for name, model in (("model", forecaster), ("naive2", Naive2(season_length=season_length))):
        forecast = _per_series_values(model.fit(train).predict(horizon), series_ids, horizon, f"{name} forecast")
        figures[name] = (smape(truth, forecast), mase(truth, forecast, scale=scales, season_length=season_length))
    (smape_model, mase_model), (smape_naive2, mase_naive2) = figures["model"], figures["naive2"]
    return M4Result(
        model=_model_name(forecaster),
        dataset=dataset,
        horizon=horizon,
        season_length=season_length,
        n_series=len(series_ids),
        smape=smape_model,
        mase=mase_model,
        owa=owa(smape_model, mase_model, smape_naive2, mase_naive2),
        smape_naive2=smape_naive2,
        mase_naive2=mase_naive2,
    )
