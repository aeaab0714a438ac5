"""Running jobs: a :class:`~tsseq.config.PipelineConfig` -> data -> models -> scores -> files.

The CLI's ``run``, ``forecast`` and ``evaluate`` commands are thin wrappers over the
functions here, so everything a command does can also be done from Python.

A job's files are written all together at the end or not at all (:func:`tsseq.io.outputs`):
their paths are checked before any model is trained, and the forecast is checked
(:func:`tsseq.sanity.check_forecast`: finite, within what the training data make
plausible) before anything is written. Input values too large for float64 arithmetic
and horizons far beyond the training data are refused up front (:mod:`tsseq.sanity`).

Neural models train with the job's ``threads`` and keep a checkpoint per fit, resumed
when the job is run again (:mod:`tsseq.fitting`).

Under ``torchrun`` every process runs the job and the neural models train together
(data-parallel); only the main process (rank 0) writes the files and tracks the runs,
and the others learn whether its steps succeeded (:mod:`tsseq.main_process`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tsseq import io, main_process, registry, sanity
from tsseq.config import (
    DataConfig,
    EvaluationConfig,
    ModelConfig,
    PipelineConfig,
    check_parameters,
    job_path,
    key_path,
    load_pipeline,
)
from tsseq.errors import ConfigError, DataError, closest_match, located
from tsseq.fitting import Checkpoints, checkpointed, require_checkpoints, with_threads
from tsseq.quantiles import interval_levels


@dataclass(frozen=True)
class PipelineResult:
    """What a job produced: the scores table and the files it wrote."""

    name: str
    scores: pd.DataFrame  # one row per model, one column per metric
    forecast: pd.DataFrame | None  # the first model, refitted on all rows, over the next `horizon` rows (+ output.quantiles)
    files: dict[str, Path]
    protocol: dict  # how the scores were computed (protocol, L, H, windows, ...)
    warnings: tuple[str, ...] = ()  # e.g. an implausible forecast written under output.allow_implausible

    def to_dict(self) -> dict:
        result = {
            "name": self.name,
            "protocol": self.protocol,
            "scores": scores_to_dict(self.scores),
            "files": {kind: str(path) for kind, path in self.files.items()},
        }
        return {**result, "warnings": list(self.warnings)} if self.warnings else result


def scores_to_dict(scores: pd.DataFrame) -> dict[str, dict[str, float]]:
    """{model: {metric: value}}; a metric a model has no value for (NaN in a mixed table) is left out."""
    return {model: row.dropna().to_dict() for model, row in scores.iterrows()}


def load_frame(data: DataConfig, base_dir: Path = Path(".")) -> pd.DataFrame:
    """The validated frame of the targets a job forecasts (catalog data set, CSV or Parquet), restricted to `target`."""
    return load_inputs(data, base_dir)[0]


def load_inputs(data: DataConfig, base_dir: Path = Path(".")) -> tuple[pd.DataFrame, dict]:
    """The targets and the covariates' ``fit`` keywords (:mod:`tsseq.data.covariate_csv`; ``{}`` without any)."""
    from tsseq.data.covariate_csv import data_columns, split_inputs

    frame, source = read_frame(data, base_dir, data_columns(data))
    if not data.has_covariates:
        return frame, {}
    return split_inputs(data, frame, source, base_dir)


def data_path(data: DataConfig, base_dir: Path = Path(".")) -> Path:
    """The data file (``data.csv``: a CSV, a Parquet file or a directory of Parquet files), relative to ``base_dir``."""
    return job_path(data.csv, base_dir)


def read_frame(
    data: DataConfig,
    base_dir: Path = Path("."),
    columns: list[str] | None = None,
    *,
    missing: str | None = None,
    irregular: str = "error",
    timestamp_unit: str | None = None,
    freq_per_series: bool = False,
) -> tuple[pd.DataFrame, str]:
    """``(validated frame, its source)`` of a catalog data set, a CSV or Parquet, as ``data`` says.

    ``data.csv`` is a CSV file, or Parquet (a ``.parquet`` file or a directory of Parquet
    files, :mod:`tsseq.data.parquet`), or a NumPy ``.npy`` array of values in row order
    (:mod:`tsseq.data.arrays`; anomaly detection only), told apart by the suffix or the directory.

    ``missing`` overrides ``data.missing``; ``irregular="keep"`` keeps a CSV's rows as they
    are when their spacing is irregular (detection on the row sequence; forecasting needs
    a regular grid and keeps the default, ``"error"``); ``timestamp_unit`` overrides
    ``data.timestamp_unit`` (detection reads numbers without a unit as ``"steps"``); ``freq_per_series``: each
    series of a long frame on its own grid (detection scores each alone; a catalog data set keeps one).
    """
    missing = data.missing if missing is None else missing
    timestamp_unit = data.timestamp_unit if timestamp_unit is None else timestamp_unit
    covariates = [*(data.past_covariates or ()), *(data.future_covariates or ())]  # never left missing (check_series)
    if data.dataset is not None:
        from tsseq.data.catalog import load
        from tsseq.data.checks import check_series

        frame = load(data.dataset).frame
        frame = check_series(
            frame, source=data.dataset, columns=columns, missing=missing, freq=data.freq, covariates=covariates
        )
        return sanity.check_magnitude(frame, data.dataset), data.dataset
    from tsseq.data.arrays import is_numpy, read_numpy
    from tsseq.data.csv import read_csv
    from tsseq.data.parquet import is_parquet, read_parquet

    path = data_path(data, base_dir)
    options = {
        "timestamp_column": data.timestamp_column,
        "value_columns": columns,
        "series_column": data.series_column,
        "freq": data.freq,
        "missing": missing,
        "sort": data.sort,
        "reindex": data.reindex,
        "irregular": irregular,
        "timestamp_unit": timestamp_unit,
        "covariates": covariates,
        "freq_per_series": freq_per_series,
    }
    if is_parquet(path) or is_numpy(path):
        kind = "Parquet" if is_parquet(path) else "a NumPy array"
        if data.sep is not None or data.decimal is not None or not data.header:
            raise ConfigError(
                f"data: 'sep', 'decimal' and 'header' (--sep, --decimal, --no-header) apply to CSV files; {path} is {kind}."
            )
    if is_parquet(path):
        frame = read_parquet(path, **options)
    elif is_numpy(path):
        if data.timestamp_column is not None or data.series_column is not None:
            raise ConfigError(f"data: {path} is a NumPy array of values, with no timestamp or series column to name.")
        frame = read_numpy(path, value_columns=columns, missing=missing, timestamp_unit=timestamp_unit)
    else:
        dialect = {key: value for key, value in (("sep", data.sep), ("decimal", data.decimal)) if value is not None}
        frame = read_csv(path, **options, header=data.header, **dialect)
    return sanity.check_magnitude(frame, str(path)), str(path)


def build_model(model: ModelConfig, defaults: dict | None = None):
    """The configured model; ``defaults`` (a protocol's input length, horizon) fill the parameters it leaves out.

    Parameters are checked against the constructor's annotations first
    (:func:`tsseq.config.check_parameters`): ``training=5`` names the parameter and the
    mapping it takes, and the mapping's fields are validated before any training.
    """
    return registry.create(model.name, **_checked_params(model, defaults, f"Model {model.name!r}"))


def _checked_params(model: ModelConfig, defaults: dict | None, owner: str, where: str = "") -> dict:
    """The model's parameters, ``defaults`` filling those it leaves out, checked (:func:`tsseq.config.check_parameters`).

    ``owner`` names the model in messages and ``where`` is the key path of its ``params``.
    """
    params = dict(model.params)
    if defaults:
        accepted = registry.parameters(model.name)
        params = {**{name: value for name, value in defaults.items() if name in accepted}, **params}
    return check_parameters(registry.get(model.name), params, owner, where)


def check_models(models: list[ModelConfig], defaults: dict | None = None, job_file: str | None = None) -> None:
    """Check every model's parameters, as its fit would check them first, before any data is read or model trained.

    A job whose third model has ``hidden_size: -3`` or ``training: {loss: msee}`` fails
    here, naming ``models[2]`` (and ``job_file``, the job's file name, when given), not
    after the first two have trained. The checks are the estimators' own that need no data
    (:meth:`tsseq.base.Forecaster.check_params`); those that do (an input length against a
    series' length) stay with fit.
    """
    for position, model in enumerate(models):
        where = f"models[{position}]"
        owner = f"{where} ({model.display_name})"
        try:
            try:
                registry.get(model.name)
            except ConfigError as error:
                raise located(error, key_path(where, "name")) from None
            params = _checked_params(model, defaults, owner, key_path(where, "params"))  # messages say where
            try:
                estimator = registry.create(model.name, **params)
            except ConfigError as error:  # an unknown parameter
                raise located(error, key_path(where, "params")) from None
            try:
                estimator.check_params()
            except ConfigError as error:
                raise located(error, owner) from None
        except ConfigError as error:
            raise error if job_file is None else located(error, job_file) from None


def _models_progress(models: list[ModelConfig], what: str) -> Iterator[ModelConfig]:
    """The models, with a bar on stderr naming the one in progress (:mod:`tsseq.progress`: when stderr is a terminal)."""
    from tsseq.progress import progress

    show = None if len(models) > 1 and main_process.is_main_process() else False
    bar = progress(total=len(models), desc=f"{what}: models", unit="model", show=show, leave=False)
    try:
        for model in models:
            bar.set_postfix_str(model.display_name)
            yield model
            bar.update(1)
    finally:
        bar.close()


def _window_defaults(evaluation: EvaluationConfig) -> dict:
    return {"input_length": evaluation.input_length, "horizon": evaluation.horizon}


def _scoring_defaults(data: DataConfig, evaluation: EvaluationConfig) -> dict:
    """The parameters the job's protocol gives the models it scores (those a model leaves out)."""
    if evaluation.protocol == "holdout":
        return {"horizon": evaluation.horizon}
    if evaluation.protocol == "m4" and data.dataset is not None:
        from tsseq import protocols

        horizon, season_length = protocols.M4_FREQUENCIES[_m4_frequency(data.dataset)]
        return {"horizon": horizon, "season_length": season_length}  # e.g. seasonal_naive's season
    return _window_defaults(evaluation)


def require_probabilistic(estimator, what: str) -> None:
    """Refuse, before any fitting, quantiles or intervals from a point-only model, with the model's own message."""
    if not getattr(estimator, "probabilistic", False):
        estimator.require_probabilistic(what)  # raises ConfigError: how to train a probabilistic model, or wrap it in conformal


def _check_interval_models(models: list[ModelConfig], evaluation: EvaluationConfig, defaults: dict) -> None:
    """With ``evaluation.interval``, every model must give quantiles: refuse before the first one is fitted."""
    if evaluation.interval is not None:
        for model in models:
            require_probabilistic(build_model(model, defaults), f"the intervals of evaluation.interval={evaluation.interval}")


def fit_forecast(
    model: ModelConfig,
    frame: pd.DataFrame,
    horizon: int,
    quantiles: list[float] | None = None,
    *,
    max_horizon: int | None = None,
    checkpoints: Checkpoints | None = None,
    covariates: dict | None = None,
) -> pd.DataFrame:
    """Fit the model on all of ``frame`` and forecast the next ``horizon`` rows.

    ``covariates``: the ``fit`` keywords of :func:`load_inputs`; their future covariates
    also serve ``predict`` (they must cover the horizon).

    With ``quantiles``: each column ``y`` is followed by ``y_q<level>`` per level
    (:meth:`tsseq.base.Forecaster.predict`; ``auto`` is set up for them,
    :meth:`~tsseq.base.Forecaster.for_quantiles`); a point-only model is refused before fitting,
    and so is a horizon beyond :func:`tsseq.sanity.check_horizon`'s limit (``max_horizon``).
    ``checkpoints``: a neural model's fit (the ``refit`` fit) keeps and resumes its checkpoint.
    """
    sanity.check_horizon(horizon, frame, len(quantiles or ()), max_horizon)
    covariates = covariates or {}
    _check_future_rows(frame, covariates.get("future_covariates"), horizon)
    estimator = build_model(model, {"horizon": horizon})
    if quantiles is not None:
        estimator = estimator.for_quantiles()  # auto's networks then train on the quantile loss
        estimator.require_levels(quantiles)
    with checkpointed(estimator, model.display_name, "refit", checkpoints) as options:
        estimator.fit(frame, **covariates, **options)
    return estimator.predict(horizon, future_covariates=covariates.get("future_covariates"), quantiles=quantiles)


def _check_future_rows(frame: pd.DataFrame, future: pd.DataFrame | None, horizon: int) -> None:
    """Future covariates that do not cover the horizon are refused before the fit, not after it (``auto``'s search
    takes minutes): the same check and message as ``predict``'s."""
    if future is None:
        return
    from tsseq.base import split_frame
    from tsseq.data.covariates import covariate_spec, horizon_rows

    _, layout = split_frame(frame)
    horizon_rows(covariate_spec(future=future, target_columns=layout.columns), future, layout, horizon, "the forecast")


class _Untracked:
    """What a scorer reports a model to when the job is not tracked: nothing."""

    def fitting(self, estimator):
        return estimator

    def fit_options(self, estimator, options: dict) -> dict:
        return options

    def scored(self, estimator, metrics: dict, **frames) -> None:
        pass


def _model_run(track, model: ModelConfig):
    """The MLflow run of one model's fit and scoring (:class:`tsseq.tracking.jobs.JobTracker`), or none."""
    return nullcontext(_Untracked()) if track is None else track.model_run(model)


def split_holdout(frame: pd.DataFrame, horizon: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training rows, the last ``horizon`` rows of every series)."""
    if isinstance(frame.index, pd.MultiIndex):
        position = frame.groupby(level=0, sort=False).cumcount(ascending=False)
        return frame[position >= horizon], frame[position < horizon]
    return frame.iloc[:-horizon], frame.iloc[-horizon:]


def score_holdout(
    frame: pd.DataFrame,
    models: list[ModelConfig],
    evaluation: EvaluationConfig,
    *,
    track=None,
    forecasts=None,
    checkpoints: Checkpoints | None = None,
    covariates: dict | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Fit each model on all but the last `horizon` rows (of every series) and score its forecast.

    ``covariates``: the ``fit`` keywords of :func:`load_inputs` (frames spanning the held-out rows).

    ``forecasts``: a dict that receives each model's forecast of the held-out rows (with
    ``y_lower``/``y_upper`` when ``evaluation.interval`` is set), by display name.
    ``checkpoints``: neural models keep and resume their checkpoints (the ``holdout`` fit).
    """
    horizon = evaluation.horizon
    is_long = isinstance(frame.index, pd.MultiIndex)
    train, test = split_holdout(frame, horizon)
    if len(train) == 0 or (not is_long and len(test) < horizon):
        raise DataError(f"holdout: {len(frame)} rows are too few to hold out horizon={horizon} rows and still train.")
    _check_interval_models(models, evaluation, {"horizon": horizon})
    columns = list(test.columns)
    rows = {}
    for model in _models_progress(models, "holdout"):
        with _model_run(track, model) as run:
            estimator = run.fitting(build_model(model, {"horizon": horizon}))
            with checkpointed(estimator, model.display_name, "holdout", checkpoints) as options:
                estimator.fit(train, **(covariates or {}), **run.fit_options(estimator, options))
            bounds = None
            future = (covariates or {}).get("future_covariates")
            if evaluation.interval is None:
                forecast = estimator.predict(horizon, future_covariates=future).reindex(test.index)
            else:  # y, y_lower, y_upper: the (1 - interval) / 2 and (1 + interval) / 2 quantiles
                forecast = estimator.predict_interval(horizon, future_covariates=future, coverage=evaluation.interval)
                forecast = forecast.reindex(test.index)
                bounds = tuple(forecast[[f"{c}_{side}" for c in columns]].to_numpy(np.float64) for side in ("lower", "upper"))
            rows[model.display_name] = _metric_row(
                test.to_numpy(np.float64), forecast[columns].to_numpy(np.float64), train, evaluation, bounds
            )
            run.scored(estimator, rows[model.display_name], history=train, truth=test)
            if forecasts is not None:
                forecasts[model.display_name] = forecast
    protocol = {"protocol": "holdout", "horizon": horizon, "train_rows": len(train), "test_rows": len(test)}
    return pd.DataFrame.from_dict(rows, orient="index"), _with_interval(protocol, evaluation)


def _with_interval(protocol: dict, evaluation: EvaluationConfig) -> dict:
    return protocol if evaluation.interval is None else {**protocol, "interval": evaluation.interval}


def score_windows(
    frame: pd.DataFrame,
    models: list[ModelConfig],
    evaluation: EvaluationConfig,
    *,
    track=None,
    checkpoints: Checkpoints | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Fit on the train split, score every test window (stride 1), optionally standardised.

    ``checkpoints``: neural models keep and resume their checkpoints (the ``windows`` fit).
    """
    from tsseq.data.scaling import Scaler
    from tsseq.data.splits import split_by_fraction
    from tsseq.data.windows import make_windows

    if isinstance(frame.index, pd.MultiIndex):
        raise ConfigError("evaluation.protocol 'windows' takes one (wide) series; use 'holdout' for many series.")
    L, H = evaluation.input_length, evaluation.horizon
    test_fraction = 1.0 - evaluation.train_fraction - evaluation.validation_fraction
    split = split_by_fraction(frame, train=evaluation.train_fraction, test=test_fraction, input_length=L)
    train, validation, test = split.train, split.validation, split.test
    if evaluation.scale == "standard":
        scaler = Scaler("standard").fit(train)
        train, validation, test = (scaler.transform(part) for part in (train, validation, test))
    if len(validation) < L + H:
        validation = None  # no whole validation window: models train without early stopping
    windows = make_windows(test.to_numpy(np.float64), L, H)
    inputs, targets = windows.inputs.numpy(), windows.targets.numpy()
    _check_interval_models(models, evaluation, _window_defaults(evaluation))
    rows = {}
    for model in _models_progress(models, "windows"):
        with _model_run(track, model) as run:
            fitted = run.fitting(build_model(model, _window_defaults(evaluation)))
            with checkpointed(fitted, model.display_name, "windows", checkpoints) as options:
                fitted.fit(train, validation=validation, **run.fit_options(fitted, options))
            predictions = fitted.predict_windows(inputs, H)
            bounds = None
            if evaluation.interval is not None:
                quantiles = fitted.predict_windows(inputs, H, quantiles=interval_levels(evaluation.interval))  # (N, H, C, 2)
                bounds = (quantiles[..., 0], quantiles[..., 1])
            rows[model.display_name] = _metric_row(targets, predictions, train, evaluation, bounds)
            run.scored(fitted, rows[model.display_name], history=test.iloc[:-H], truth=test.iloc[-H:])
    protocol = {
        "protocol": "windows",
        "input_length": L,
        "horizon": H,
        "n_windows": len(windows),
        "scale": evaluation.scale,
        "train_rows": len(train),
    }
    return pd.DataFrame.from_dict(rows, orient="index"), _with_interval(protocol, evaluation)


POINT_METRICS = ("mse", "mae", "rmse", "mape", "smape")  # functions of tsseq.metrics (imported when scoring: scikit-learn)
INTERVAL_METRICS = ("coverage", "acd", "msis", "interval_width")  # with evaluation.interval (holdout, windows)
# The scores of the published protocols' results; their other fields describe the run.
PROTOCOL_SCORES = {
    "ett": ("mse", "mae", "crps", "coverage_80", "coverage_90"),
    "m4": ("smape", "mase", "owa", "smape_naive2", "mase_naive2", "msis", "coverage", "acd"),
}


def _metric_row(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    train: pd.DataFrame,
    evaluation: EvaluationConfig,
    bounds: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict:
    """Every metric of ``evaluation.metrics``, then the interval metrics of ``bounds`` (lower, upper).

    MASE and MSIS are scaled by the training rows of each series (``season_length``).
    """
    from tsseq import metrics

    row = {}
    for name in evaluation.metrics:
        if name == "mase":
            row[name] = metrics.mase(y_true, y_pred, scale=_scale(y_true, train, evaluation.season_length))
        elif name in POINT_METRICS:
            row[name] = getattr(metrics, name)(y_true, y_pred)
        elif name in INTERVAL_METRICS:
            raise ConfigError(
                f"evaluation.metrics: {name!r} comes with evaluation.interval (e.g. interval: 0.95), which adds "
                f"{', '.join(INTERVAL_METRICS)}; leave it out of metrics."
            )
        else:
            known = ", ".join([*POINT_METRICS, "mase"])
            raise ConfigError(f"evaluation.metrics: unknown metric {name!r}.{closest_match(name, POINT_METRICS)} Known: {known}.")
    if bounds is not None:
        lower, upper = bounds
        nominal = evaluation.interval
        share = metrics.coverage(y_true, lower, upper)
        scale = _scale(y_true, train, evaluation.season_length)
        row["coverage"] = share
        row["acd"] = metrics.acd(share, nominal)
        row["msis"] = metrics.msis(y_true, lower, upper, scale=scale, alpha=1 - nominal)
        row["interval_width"] = metrics.mean_interval_width(lower, upper)
    return row


def _scale(y_true: np.ndarray, train: pd.DataFrame, season_length: int) -> np.ndarray:
    """The MASE (and MSIS) scale of each scored value: its series' in-sample seasonal naive MAE, per channel."""
    from tsseq import metrics

    if not isinstance(train.index, pd.MultiIndex):
        return metrics.seasonal_naive_scale(train.to_numpy(np.float64), season_length)  # (C,), one per channel
    # Long layout (holdout rows stacked series by series): each series has its own scale.
    scales = train.groupby(level=0, sort=False).apply(
        lambda group: pd.Series(metrics.seasonal_naive_scale(group.to_numpy(np.float64), season_length))
    )
    horizon = len(y_true) // len(scales)
    return np.repeat(scales.to_numpy(np.float64), horizon, axis=0)  # (S·H, C)


def score_protocol(
    data: DataConfig,
    models: list[ModelConfig],
    evaluation: EvaluationConfig,
    *,
    track=None,
    failures: dict[str, Exception] | None = None,
    checkpoints: Checkpoints | None = None,
) -> tuple[pd.DataFrame, dict]:
    """The published protocols (ETT long-horizon, M4) for catalog data sets.

    ``failures``: given a dict, a model that fails (an order too large for the series, a
    diverged fit) is recorded there by display name and left out of the scores, and the
    other models are still scored; without it the first failure is raised.
    ``checkpoints``: neural models keep and resume their checkpoints (the ``ett`` or ``m4`` fit).
    """
    if data.dataset is None:
        raise ConfigError(f"evaluation.protocol {evaluation.protocol!r} needs data.dataset (a catalog name), not a CSV.")
    from tsseq.data.catalog import load

    defaults = _scoring_defaults(data, evaluation)
    _check_interval_models(models, evaluation, defaults)
    # Load the data once for all models: each protocol run only reads it.
    loaded = load(data.dataset)
    rows, description = {}, {}
    for model in _models_progress(models, evaluation.protocol):
        try:
            row, details = _score_protocol_model(model, data, loaded, evaluation, defaults, track, checkpoints)
        except Exception as error:  # noqa: BLE001 - reported in the model's row by the caller
            if failures is None:
                raise
            failures[model.display_name] = error
            continue
        rows[model.display_name] = row
        description.update(details)
    return pd.DataFrame.from_dict(rows, orient="index"), {"protocol": evaluation.protocol, **description}


def _score_protocol_model(
    model: ModelConfig, data: DataConfig, loaded, evaluation: EvaluationConfig, defaults, track, checkpoints
):
    """One model's protocol scores and the protocol's description fields."""
    from tsseq import protocols

    frequency = _m4_frequency(data.dataset) if evaluation.protocol == "m4" else None
    with _model_run(track, model) as run:
        forecaster = run.fitting(build_model(model, defaults))
        with checkpointed(forecaster, model.display_name, evaluation.protocol, checkpoints) as options:
            fit_options = run.fit_options(forecaster, options)
            row, summary = _run_protocol(protocols, forecaster, data, loaded, evaluation, frequency, fit_options)
        run.scored(forecaster, row)
    # A mixed ETT table: crps_levels comes from the probabilistic models only.
    return row, {k: v for k, v in summary.items() if k not in PROTOCOL_SCORES[evaluation.protocol] and k != "model"}


def _run_protocol(protocols, forecaster, data: DataConfig, loaded, evaluation: EvaluationConfig, frequency, fit_options):
    """(scores row, the protocol's whole summary) of one forecaster, fitted and scored by the protocol."""
    if evaluation.protocol == "ett":
        result = protocols.evaluate_ett(
            forecaster,
            dataset=data.dataset,
            setting=evaluation.setting,
            input_length=evaluation.input_length,
            horizon=evaluation.horizon,
            drop_last=evaluation.drop_last,
            frame=loaded.frame,
            crps=forecaster.probabilistic,  # point-only models keep MSE and MAE only
            fit_options=fit_options,
        )
    else:
        result = protocols.evaluate_m4(
            forecaster,
            frequency=frequency,
            train=loaded.frame,
            test=loaded.test,
            interval=evaluation.interval,
            fit_options=fit_options,
        )
    summary = result.to_dict()
    return {key: float(summary[key]) for key in PROTOCOL_SCORES[evaluation.protocol] if key in summary}, summary


def _m4_frequency(dataset: str) -> str:
    prefix, _, frequency = dataset.partition("-")
    if prefix.lower() != "m4" or not frequency:
        raise ConfigError(f"evaluation.protocol 'm4' needs an M4 data set such as 'm4-hourly'; got {dataset!r}.")
    return frequency.title()


def run(
    config: PipelineConfig,
    base_dir: Path = Path("."),
    output_dir: Path | None = None,
    *,
    max_horizon: int | None = None,
    allow_implausible: bool | None = None,
    job_file: str | None = None,
) -> PipelineResult:
    """Run a whole job; its files are written together at the end, or none of them.

    The output paths and every model's parameters (:func:`check_models`) are checked
    before any data is read or model trained (an :class:`~tsseq.errors.OutputError` naming
    the path; a ConfigError naming the model, its place in ``models`` and the parameter,
    after ``job_file``, the job's file name, when given); the forecast is checked before
    it is written (:func:`tsseq.sanity.check_forecast`; ``allow_implausible``, default
    ``output.allow_implausible``, writes an implausible one with warnings, also in
    results.json); ``max_horizon`` overrides the horizon limit (:func:`tsseq.sanity.check_horizon`).
    Neural models train with the job's ``threads`` (unless they set their own) and keep
    their checkpoints under ``checkpoint_dir``, resuming from them (``resume``): see
    :class:`~tsseq.config.PipelineConfig`.

    Under ``torchrun`` (:mod:`tsseq.main_process`) the processes join first; all compute
    the same result, which only the main process (rank 0) writes and tracks.
    """
    evaluation = config.evaluation
    checkpoints = Checkpoints(config.checkpoint_dir, config.resume)
    allow = config.output.allow_implausible if allow_implausible is None else allow_implausible
    directory = Path(output_dir if output_dir is not None else config.output.directory)
    writes_forecast = evaluation.protocol not in ("ett", "m4") and bool(config.output.forecast_csv or config.output.plot)
    main_process.start_job()
    with io.outputs(write=main_process.is_main_process()) as out:
        planned = _planned_outputs(config, directory, writes_forecast)
        with main_process.shared_outcome("checking the output paths"):
            out.reads(config.data.files(base_dir))
            for kind, (path, what) in planned.items():  # before any training: a bad path is bad input, found now
                (out.check_plot if kind in ("plot", "holdout_plot") else out.check)(path, what)
        models = with_threads(config.models, config.threads)
        check_models(models, _scoring_defaults(config.data, evaluation), job_file)
        track = None
        if config.tracking.enabled:
            from tsseq.tracking.jobs import JobTracker

            track = JobTracker(config, base_dir)
        if writes_forecast and config.output.quantiles is not None:
            # Refuse a point-only first model before scoring anything, not after.
            first = build_model(models[0], {"horizon": evaluation.horizon}).for_quantiles()  # as fit_forecast builds it
            require_probabilistic(first, "quantiles (output.quantiles)")
            first.require_levels(config.output.quantiles)
        holdout: dict[str, pd.DataFrame] = {}
        if config.data.has_covariates and evaluation.protocol != "holdout":
            raise ConfigError(
                f"data: covariates are scored by the 'holdout' protocol (and used by the forecast); "
                f"evaluation.protocol {evaluation.protocol!r} takes none."
            )
        covariates: dict = {}
        if evaluation.protocol in ("ett", "m4"):
            scores, protocol = score_protocol(config.data, models, evaluation, track=track, checkpoints=checkpoints)
            frame = None
        else:
            frame, covariates = load_inputs(config.data, base_dir)
            if writes_forecast:
                sanity.check_horizon(evaluation.horizon, frame, len(config.output.quantiles or ()), max_horizon)
            if evaluation.protocol == "holdout":
                scores, protocol = score_holdout(
                    frame, models, evaluation, track=track, forecasts=holdout, checkpoints=checkpoints,
                    covariates=covariates,
                )
            else:
                scores, protocol = score_windows(frame, models, evaluation, track=track, checkpoints=checkpoints)

        files: dict[str, Path] = {}
        forecast, implausible = None, []
        if writes_forecast:
            forecast = fit_forecast(
                models[0],
                frame,
                evaluation.horizon,
                config.output.quantiles,
                max_horizon=max_horizon,
                checkpoints=checkpoints,
                covariates=covariates,
            )
        # No process trains from here on: the main process renders and renames the files, in steps
        # whose outcome every process learns (a file rank 0 cannot write stops the others too).
        with main_process.shared_outcome("writing the outputs"):
            if writes_forecast:
                implausible = sanity.check_forecast(forecast, frame, allow_implausible=allow)
                if "forecast_csv" in planned:
                    path, what = planned["forecast_csv"]
                    files["forecast_csv"] = out.add_csv(path, forecast, what)
                if "plot" in planned:
                    from tsseq.plotting import plot_forecast

                    title = f"{config.name}: {config.models[0].display_name}, next {evaluation.horizon} steps"
                    path, what = planned["plot"]
                    files["plot"] = out.add(
                        path, lambda temporary: plot_forecast(frame, forecast, temporary, title=title), what
                    )
            if "holdout_plot" in planned and holdout:
                from tsseq.plotting import plot_holdout

                train, test = split_holdout(frame, evaluation.horizon)
                title = f"{config.name}: the last {evaluation.horizon} rows held out"
                path, what = planned["holdout_plot"]
                files["holdout_plot"] = out.add(
                    path, lambda temporary: plot_holdout(train, test, holdout, temporary, title=title), what
                )
            if "results_json" in planned:
                files["results_json"] = planned["results_json"][0]
            result = PipelineResult(config.name, scores, forecast, files, protocol, tuple(implausible))
            if "results_json" in planned:
                text = json.dumps({**result.to_dict(), "config": asdict(config)}, indent=2, default=str)
                path, what = planned["results_json"]
                out.add_text(path, text, what)
        main_process.on_main_process(out.commit, "writing the outputs")
    return result


def _planned_outputs(config: PipelineConfig, directory: Path, writes_forecast: bool) -> dict[str, tuple[Path, str]]:
    """The files the job will write: kind -> (path, what the file is, for messages)."""
    output = config.output
    planned = {}
    if writes_forecast and output.forecast_csv:
        planned["forecast_csv"] = (directory / output.forecast_csv, "forecast CSV")
    if writes_forecast and output.plot:
        planned["plot"] = (directory / output.plot, "forecast plot")
    if output.holdout_plot and config.evaluation.protocol == "holdout":
        planned["holdout_plot"] = (directory / output.holdout_plot, "holdout plot")
    if output.results_json:
        planned["results_json"] = (directory / output.results_json, "results JSON")
    return planned


def run_file(
    path: str | Path, output_dir: Path | None = None, *, overrides: dict | None = None, **options
) -> PipelineResult:
    """Read a pipeline file and :func:`run` it; ``options``: ``max_horizon``, ``allow_implausible``.

    ``overrides``: top-level keys of the file replaced, e.g. ``{"threads": 1, "resume": False}``
    (what ``tsseq run``'s ``--threads``, ``--checkpoint-dir`` and ``--resume/--no-resume`` do).
    """
    config, base_dir = load_pipeline(path)
    if overrides:
        config = dataclasses.replace(config, **overrides)
        if overrides.get("resume") is True:
            require_checkpoints(config.models, config.checkpoint_dir)
    return run(config, base_dir, output_dir, job_file=Path(path).name, **options)


def format_scores(scores: pd.DataFrame, digits: int = 4) -> str:
    """A plain-text table of the scores, models as rows; blank where a model has no value (e.g. CRPS of a point model)."""
    return scores.to_string(float_format=lambda value: f"{value:.{digits}f}", na_rep="")
