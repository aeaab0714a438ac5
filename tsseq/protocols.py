"""Published evaluation protocols (ETT long-horizon, M4) on top of any tsseq forecaster.

Both follow the standard protocols word for word (see the benchmark data README and
the papers), so that a figure here compares with the published tables:

* :func:`evaluate_ett`: ETTh1/ETTh2/ETTm1/ETTm2 long-horizon forecasting (Zhou et al.,
  Informer, 2021): fixed 12/4/4-month split, every column standardised with the train
  mean and population standard deviation, MSE and MAE on that scale averaged over
  every test window (stride 1), horizon step and channel.
* :func:`evaluate_m4`: M4 (Makridakis et al., 2020): forecast the held-out values of
  every series from its training values; sMAPE, MASE and OWA against Naive2; with
  ``interval=0.95``, M4's interval track: MSIS, coverage and ACD of 95% intervals.

A forecaster is used through :class:`tsseq.base.Forecaster`: ``fit(frame)`` once,
then ``predict_windows`` (ETT) or ``predict`` (M4), with ``quantiles=`` for the
probabilistic figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tsseq.base import Forecaster, check_positive_int
from tsseq.data.scaling import Scaler
from tsseq.data.splits import PRESETS, split_preset
from tsseq.data.windows import Windows, make_windows
from tsseq.errors import ConfigError, DataError, closest_match
from tsseq.metrics import acd, coverage, crps_from_quantiles, mae, mase, mse, msis, owa, seasonal_naive_scale, smape
from tsseq.quantiles import check_coverage, interval_levels

__all__ = ["ETT_CRPS_LEVELS", "EttResult", "M4Result", "M4_FREQUENCIES", "ett_splits", "evaluate_ett", "evaluate_m4"]

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
# The ETT protocol's CRPS grid: 19 levels 0.05, 0.10, ..., 0.95 (named "0.05:0.95:0.05" in
# results). It holds the 80% and 90% central intervals and is within reach of any model
# trained on levels from 0.05 to 0.95; its CRPS reads about 5% high (crps_from_quantiles).
ETT_CRPS_LEVELS = np.round(np.arange(1, 20) * 0.05, 2)
ETT_CRPS_GRID = "0.05:0.95:0.05"
_ETT_COVERAGES = {"coverage_80": 0.8, "coverage_90": 0.9}


def _model_name(forecaster: Forecaster) -> str:
    return getattr(forecaster, "registry_name", type(forecaster).__name__)


def _require_probabilistic(forecaster: Forecaster, what: str) -> None:
    """Refuse, before fitting, a request for probabilistic figures from a point model."""
    forecaster.require_probabilistic(f"the quantiles that {what} scores")


def _without_unset(fields: dict[str, object], optional: tuple[str, ...]) -> dict[str, object]:
    """A result's fields without the optional figures that were not asked for (None)."""
    return {key: value for key, value in fields.items() if not (key in optional and value is None)}


@dataclass(frozen=True)
class EttResult:
    """MSE and MAE of one ETT run, with the configuration that produced them.

    ``n_windows`` is the number of test windows averaged over: ``2881 - H`` for ETTh
    (``L`` does not change it), or ``batch_size * floor(...)`` of them with ``drop_last``.

    With ``crps=True``: ``crps`` on the standardised scale, from the quantiles at the
    levels named by ``crps_levels`` (``"0.05:0.95:0.05"``, :data:`ETT_CRPS_LEVELS`),
    and the coverage of the 80% and 90% central intervals of that grid. Otherwise they
    are None and :meth:`to_dict` leaves them out.
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
    crps: float | None = None
    coverage_80: float | None = None
    coverage_90: float | None = None
    crps_levels: str | None = None

    def to_dict(self) -> dict[str, object]:
        optional = ("crps", "coverage_80", "coverage_90", "crps_levels")
        return {"protocol": "ett", **_without_unset(asdict(self), optional)}


@dataclass(frozen=True)
class M4Result:
    """sMAPE (percent), MASE and OWA of one M4 run, with Naive2's figures for reference.

    With an ``interval`` (nominal coverage, 0.95 in M4): ``msis`` (averaged over series),
    ``coverage`` (share of all test values inside their interval) and ``acd``
    (``|coverage - interval|``). Otherwise they are None and :meth:`to_dict` leaves them out.
    """

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
    interval: float | None = None
    msis: float | None = None
    coverage: float | None = None
    acd: float | None = None

    def to_dict(self) -> dict[str, object]:
        return {"protocol": "m4", **_without_unset(asdict(self), ("interval", "msis", "coverage", "acd"))}


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
    crps: bool = False,
    fit_options: Mapping[str, Any] | None = None,
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
    crps : bool
        Also score the quantiles at :data:`ETT_CRPS_LEVELS` (``predict_windows(...,
        quantiles=...)``, the same windows and batches): CRPS on the standardised scale
        (:func:`tsseq.metrics.crps_from_quantiles`) and the coverage of the 80% and 90%
        central intervals. Needs a probabilistic model (``forecaster.probabilistic``).
    fit_options : mapping, optional
        More keyword arguments of ``forecaster.fit``, e.g. ``resume`` and ``callbacks``
        of a neural model (what :func:`tsseq.pipeline.checkpointed` gives).

    Returns
    -------
    EttResult
    """
    dataset = {name.lower(): name for name in PRESETS}.get(str(dataset).lower(), dataset)  # as the catalog: any case
    if dataset not in PRESETS:
        raise ConfigError(
            f"Unknown ETT dataset {dataset!r}.{closest_match(dataset, PRESETS)} Known: {', '.join(PRESETS)}."
        )
    if setting not in ETT_SETTINGS:
        raise ConfigError(f"The 'setting' parameter must be 'M' or 'S'. Got {setting!r} instead.")
    input_length = check_positive_int(input_length, "input_length")
    horizon = check_positive_int(horizon, "horizon")
    batch_size = check_positive_int(batch_size, "batch_size")
    if not isinstance(crps, bool):
        raise ConfigError(f"The 'crps' parameter must be True or False. Got {crps!r} instead.")
    if crps:
        _require_probabilistic(forecaster, "evaluate_ett(crps=True)")
    train, validation, test = ett_splits(dataset, setting, input_length, data_dir=data_dir, frame=frame)
    # The validation rows serve early stopping of neural models; closed-form ones ignore them.
    forecaster.fit(train, validation=validation, **dict(fit_options or {}))
    windows = make_windows(test.to_numpy(), input_length, horizon)
    n_windows = len(windows)
    if drop_last:
        n_windows = batch_size * (n_windows // batch_size)
        if n_windows == 0:
            raise DataError(f"drop_last leaves no window: {len(windows)} test windows < batch_size={batch_size}.")
    figures = _window_errors(forecaster, windows, n_windows, horizon, batch_size, crps)
    return EttResult(
        model=_model_name(forecaster),
        dataset=dataset,
        setting=setting,
        input_length=input_length,
        horizon=horizon,
        n_windows=n_windows,
        drop_last=drop_last,
        crps_levels=ETT_CRPS_GRID if crps else None,
        **figures,
    )


def ett_splits(
    dataset: str, setting: str, input_length: int, *, data_dir: str | Path | None = None, frame: pd.DataFrame | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The ETT protocol's training, validation and test rows, standardised with the training rows' statistics.

    :func:`evaluate_ett`'s data steps (its parameters of the same names): the validation and
    test rows start ``input_length`` rows early, as the standard split has them.
    """
    if frame is None:
        frame = _load(dataset, data_dir).frame
    if setting == "S":
        if ETT_TARGET not in frame.columns:
            raise DataError(f"Setting 'S' forecasts the {ETT_TARGET!r} column; the frame has {list(frame.columns)}.")
        frame = frame[[ETT_TARGET]]
    split = split_preset(frame, dataset, input_length=input_length)
    scaler = Scaler("standard").fit(split.train)
    return scaler.transform(split.train), scaler.transform(split.validation), scaler.transform(split.test)


def _window_errors(
    forecaster: Forecaster, windows: Windows, n_windows: int, horizon: int, batch_size: int, crps: bool
) -> dict[str, float]:
    """MSE and MAE (and CRPS, coverage) over the first ``n_windows`` windows, ``batch_size`` at a time."""
    sums: dict[str, float] = {}
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
        figures = {"mse": mse(targets, forecast, mask=mask), "mae": mae(targets, forecast, mask=mask)}
        if crps:
            quantiles = forecaster.predict_windows(inputs, horizon, quantiles=ETT_CRPS_LEVELS)  # (B, H, C, Q)
            figures["crps"] = crps_from_quantiles(targets, quantiles, ETT_CRPS_LEVELS, mask=mask)
            for name, nominal in _ETT_COVERAGES.items():
                low, high = _level_positions(interval_levels(nominal))
                figures[name] = coverage(targets, quantiles[..., low], quantiles[..., high], mask=mask)
        # Batch means weighted by their element counts give the mean over all windows.
        for name, value in figures.items():
            sums[name] = sums.get(name, 0.0) + value * count
        observed += count
    if observed == 0:
        raise DataError("The test windows have no observed (non-NaN) target value to score.")
    return {name: total / observed for name, total in sums.items()}


def _level_positions(levels: np.ndarray) -> tuple[int, int]:
    """Where the two levels of a central interval are in :data:`ETT_CRPS_LEVELS`."""
    low, high = (int(np.argmin(np.abs(ETT_CRPS_LEVELS - level))) for level in levels)
    return low, high


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
    interval: float | None = None,
    fit_options: Mapping[str, Any] | None = None,
) -> M4Result:
    """Run the M4 protocol for one frequency (Hourly: horizon 48, season length 24).

    ``forecaster`` is fitted once on the long frame of all training series and
    predicts the next ``H`` values of each. sMAPE (percent) and MASE (scaled by each
    series' in-sample lag-``m`` mean absolute difference) are averaged over series;
    OWA compares those averages with Naive2's (:class:`tsseq.baselines.Naive2`,
    fitted on the same data).

    With ``interval`` (M4: 0.95), the same fit also gives the ``(1 - interval) / 2`` and
    ``(1 + interval) / 2`` quantiles (``predict(H, quantiles=...)``) as the bounds of
    each step's interval, scored as in M4's interval track with ``alpha = 1 - interval``:
    MSIS (the interval score over the MASE scale, averaged over series), coverage (the
    share of all test values inside their interval) and ACD ``|coverage - interval|``.

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
    interval : float in (0, 1), optional
        Nominal coverage of central prediction intervals to score; needs a
        probabilistic model (``forecaster.probabilistic``).
    fit_options : mapping, optional
        More keyword arguments of ``forecaster.fit`` (as :func:`evaluate_ett`'s).

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
    if interval is not None:
        interval = check_coverage(interval, "interval")
        _require_probabilistic(forecaster, f"evaluate_m4(interval={interval})")
    if train is None:
        loaded = _load(dataset, data_dir)
        train, test = loaded.frame, loaded.test
    series_ids = train.index.get_level_values(0).unique()
    truth = _per_series_values(test, series_ids, horizon, "test frame")
    # One scale per series, broadcast over its horizon and channels.
    groups = train.groupby(level=0, sort=False)
    scales = np.stack([seasonal_naive_scale(group.to_numpy(dtype=np.float64), season_length) for _, group in groups])
    scales = scales.reshape(len(series_ids), 1, -1)
    forecaster.fit(train, **dict(fit_options or {}))  # fit_options: as evaluate_ett's
    intervals: dict[str, float] = {}
    if interval is None:
        forecast = _per_series_values(forecaster.predict(horizon), series_ids, horizon, "model forecast")
    else:
        # One call gives, for each column, the point forecast and the two bounds.
        predicted = forecaster.predict(horizon, quantiles=interval_levels(interval))
        values = _per_series_values(predicted, series_ids, horizon, "model forecast")
        values = values.reshape(len(series_ids), horizon, -1, 3)  # (S, H, C, point + 2 levels)
        forecast, lower, upper = values[..., 0], values[..., 1], values[..., 2]
        share = coverage(truth, lower, upper)
        intervals = {
            "interval": interval,
            "msis": msis(truth, lower, upper, scale=scales, season_length=season_length, alpha=1 - interval),
            "coverage": share,
            "acd": acd(share, interval),
        }
    naive2 = Naive2(season_length=season_length).fit(train).predict(horizon)
    reference = _per_series_values(naive2, series_ids, horizon, "naive2 forecast")
    smape_model, smape_naive2 = smape(truth, forecast), smape(truth, reference)
    mase_model = mase(truth, forecast, scale=scales, season_length=season_length)
    mase_naive2 = mase(truth, reference, scale=scales, season_length=season_length)
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
        **intervals,
    )
