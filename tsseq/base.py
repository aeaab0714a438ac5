"""The estimator contract every tsseq forecaster follows (scikit-learn style).

``fit`` takes pandas data with a DatetimeIndex and returns ``self``; ``predict(horizon)``
returns the next ``horizon`` rows in the same layout; ``predict_windows`` forecasts
many input windows at once (backtests, published protocols); ``score`` is the negative
MSE so that greater is better, as in scikit-learn's scorers. ``get_params``,
``set_params`` and :func:`sklearn.base.clone` work as on scikit-learn's estimators
(:class:`tsseq.parameters.Estimator`, which does not import scikit-learn), so
constructors take keyword arguments and only store them (:func:`store_arguments`).
:func:`tsseq.testing.check_forecaster` checks this contract on any model.

How ``fit`` differs from a scikit-learn regressor's ``fit(X, y)``: a forecaster learns
a series from its own past, so the one positional argument ``y`` is the series, both
inputs and targets (there is no separate feature matrix ``X``); ``predict`` takes a
horizon, not rows of features; ``score(y)`` takes the rows that follow the training
data. The rows that neural models stop early on are passed by keyword,
``fit(y, validation=rows)``: a second positional argument, as in ``fit(y, X)``, is a
TypeError, never silently validation data.

Two layouts are accepted:

* wide: a DataFrame indexed by a DatetimeIndex, one column per channel (a Series is
  one channel);
* long: a DataFrame indexed by a MultiIndex ``(series id, timestamp)``, the same
  channel columns for every series; the series may have different lengths.

Subclasses implement three array methods and never see pandas:

* ``_fit(series, validation)`` with ``series`` a list of float64 arrays of shape
  ``(T_i, C)`` and ``validation`` None or a list like it;
* ``_predict(horizon)`` returning a list of ``(horizon, C)`` arrays, one per series;
* ``_predict_windows(inputs, horizon)`` mapping ``(N, L, C)`` to ``(N, horizon, C)``.

Probabilistic forecasts (:mod:`tsseq.quantiles`) come from up to three more:

* ``_predict_quantiles(horizon, levels)``: a list of ``(horizon, C, Q)`` arrays, one per
  series, at the increasing ``levels`` ``(Q,)``;
* ``_predict_windows_quantiles(inputs, horizon, levels)``: ``(N, horizon, C, Q)``;
* ``_sample(horizon, n, rng)``: a list of ``(n, horizon, C)`` sample paths per series,
  drawn from the ``numpy.random.Generator`` ``rng`` (a model may draw torch noise from
  a seed taken from it).

A model without them gives point forecasts only, and says so when asked for more;
:class:`tsseq.conformal.ConformalForecaster` adds intervals to any model.

Covariates (:mod:`tsseq.data.covariates`): ``fit`` also takes ``past_covariates``,
``future_covariates`` (frames in the layout of ``y``) and ``static_covariates`` (one row
per series); ``predict``, ``predict_interval`` and ``sample`` take the
``future_covariates`` of the horizon. A model lists the kinds it takes in
``supported_covariates`` and is checked here, in one place (:meth:`Forecaster._check_kinds`);
its ``_fit`` then receives ``covariates=`` (a
:class:`~tsseq.data.covariates.SeriesCovariates` of the training rows, and
``validation_covariates=`` of the validation rows), and, when fitted with future
covariates, ``_predict``, ``_predict_quantiles`` and ``_sample`` receive
``future_covariates=``, a list of ``(horizon, F)`` arrays, and ``_predict_windows`` (and
``_predict_windows_quantiles``) ``covariates=``, the
:class:`~tsseq.data.covariates.WindowCovariates` of the windows (backtests build them).
The spec of the columns is the fitted ``covariate_spec_`` (None without covariates).

Column layout of the public methods, for each target column ``y``:

* ``predict(h, quantiles=[0.05, 0.5, 0.95])``: ``y``, ``y_q0.05``, ``y_q0.5``, ``y_q0.95``
  (the point forecast, then the levels increasing left to right, never crossing);
* ``predict_interval(h, coverage=0.9)``: ``y``, ``y_lower``, ``y_upper`` (the 5% and 95%
  quantiles);
* ``sample(h, n)``: column ``y``, one row per (sample, timestamp): the index gains a
  ``sample`` level before the timestamps (after the series level of a long frame).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tsseq.data.checks import check_series, require_pandas, series_frequency
from tsseq.data.covariates import KINDS, CovariateSpec, WindowCovariates, align, covariate_spec, horizon_rows
from tsseq.errors import ConfigError, DataError, check_positive_int  # check_positive_int: also imported from here
from tsseq.parameters import Estimator, check_is_fitted
from tsseq.quantiles import (
    check_coverage,
    check_finite_forecast,
    check_levels,
    interval_levels,
    level_label,
    noncrossing,
)


@dataclass(frozen=True)
class SeriesLayout:
    """What is needed to turn per-series arrays back into the caller's pandas layout."""

    columns: tuple[str, ...]
    freq: str
    last_timestamps: tuple[pd.Timestamp, ...]
    series_ids: tuple[object, ...] | None  # None for the wide layout (one series)
    index_names: tuple[str | None, ...]

    @property
    def n_channels(self) -> int:
        return len(self.columns)

    def future_index(self, series: int, horizon: int) -> pd.DatetimeIndex:
        start = self.last_timestamps[series] + pd.tseries.frequencies.to_offset(self.freq)
        return pd.date_range(start, periods=horizon, freq=self.freq, name=self.index_names[-1])

    def to_frame(self, forecasts: list[np.ndarray]) -> pd.DataFrame:
        """Per-series ``(H, C)`` arrays -> a frame in the layout the model was fitted on."""
        if self.series_ids is None:
            return pd.DataFrame(forecasts[0], index=self.future_index(0, len(forecasts[0])), columns=list(self.columns))
        lengths = [len(values) for values in forecasts]
        series = np.repeat(np.asarray(self.series_ids, dtype=object), lengths)
        timestamps = np.concatenate([self.future_index(i, n).to_numpy() for i, n in enumerate(lengths)])
        index = pd.MultiIndex.from_arrays([series, timestamps], names=list(self.index_names))
        return pd.DataFrame(np.concatenate(forecasts), index=index, columns=list(self.columns))

    def to_quantile_frame(
        self, points: list[np.ndarray], quantiles: list[np.ndarray], suffixes: list[str]
    ) -> pd.DataFrame:
        """Per-series ``(H, C)`` points and ``(H, C, Q)`` quantiles -> ``y, y_<suffix 1>, ...`` per column."""
        columns, blocks = [], []
        for name in self.columns:
            columns += [name] + [f"{name}_{suffix}" for suffix in suffixes]
        for point, quantile in zip(points, quantiles):
            block = np.concatenate([point[:, :, None], quantile], axis=2)  # (H, C, 1 + Q)
            blocks.append(block.reshape(len(point), -1))  # (H, C·(1 + Q)), channel-major
        return dataclasses.replace(self, columns=tuple(columns)).to_frame(blocks)

    def to_sample_frame(self, samples: list[np.ndarray]) -> pd.DataFrame:
        """Per-series ``(n, H, C)`` paths -> rows indexed by ([series,] sample, timestamp)."""
        frames, keys = [], []
        for position, paths in enumerate(samples):
            n, horizon, _ = paths.shape
            index = pd.MultiIndex.from_product(
                [np.arange(n), self.future_index(position, horizon)], names=["sample", self.index_names[-1]]
            )
            frames.append(pd.DataFrame(paths.reshape(n * horizon, -1), index=index, columns=list(self.columns)))
            keys.append(position if self.series_ids is None else self.series_ids[position])
        if self.series_ids is None:
            return frames[0]
        return pd.concat(frames, keys=keys, names=[self.index_names[0]])


def split_frame(y: pd.DataFrame | pd.Series) -> tuple[list[np.ndarray], SeriesLayout]:
    """A validated wide or long frame -> (list of ``(T_i, C)`` float64 arrays, layout)."""
    require_pandas(y)
    stated = None if isinstance(y.index, pd.MultiIndex) else getattr(y.index, "freq", None)  # e.g. one row, --freq h
    frame = check_series(y.to_frame() if isinstance(y, pd.Series) else y, missing="mask", freq=stated)
    freq = series_frequency(frame)
    columns = tuple(str(column) for column in frame.columns)
    if isinstance(frame.index, pd.MultiIndex):
        series_ids, arrays, last = [], [], []
        level = frame.index.names[0]
        for series_id, group in frame.groupby(level=0, sort=False):
            series_ids.append(series_id)
            arrays.append(group.to_numpy(dtype=np.float64))
            last.append(group.index.get_level_values(-1)[-1])
        layout = SeriesLayout(columns, freq, tuple(last), tuple(series_ids), (level, frame.index.names[-1]))
        return arrays, layout
    layout = SeriesLayout(columns, freq, (frame.index[-1],), None, (frame.index.name,))
    return [frame.to_numpy(dtype=np.float64)], layout


def store_arguments(estimator: object, arguments: dict[str, object]) -> None:
    """Store each constructor argument as the attribute of its name: ``store_arguments(self, locals())``.

    What scikit-learn asks of ``__init__`` (store the arguments unchanged, nothing
    else), in one line: ``get_params`` reads the signature and these attributes, and
    ``clone`` checks that they are the very objects passed. Call it first in
    ``__init__``, while ``locals()`` holds nothing but the arguments.
    """
    for name, value in arguments.items():
        if name not in ("self", "__class__"):  # __class__: in locals() of an __init__ that calls super()
            setattr(estimator, name, value)


def _check_window_covariates(spec: CovariateSpec, covariates: WindowCovariates, windows: tuple[int, int], horizon: int) -> None:
    """The window covariates match the fitted ``spec``, ``N`` windows of ``L`` rows and the horizon (DataError naming the kind)."""
    n, length = windows
    expected = {
        "past": (spec.past, (n, length, len(spec.past))),
        "future": (spec.future, (n, length + horizon, len(spec.future))),
        "static_numeric": (spec.static_numeric, (n, len(spec.static_numeric))),
        "static_codes": (spec.static_categorical, (n, len(spec.static_categorical))),
    }
    for kind, (columns, shape) in expected.items():
        given = getattr(covariates, kind)
        if not columns:
            if given is not None:
                raise DataError(f"covariates.{kind} was given, but the model was fitted without {kind} covariates.")
            continue
        if given is None or np.shape(given) != shape:
            got = "none" if given is None else f"shape {np.shape(given)}"
            raise DataError(f"covariates.{kind} of {n} windows must have shape {shape} (columns {list(columns)}). Got {got}.")


class Forecaster(Estimator):
    """Base class of tsseq forecasters; see the module docstring for the contract."""

    supported_covariates: frozenset[str] = frozenset()  # of "past", "future", "static" (tsseq.data.covariates)

    def fit(
        self,
        y: pd.DataFrame | pd.Series,
        *,
        past_covariates: pd.DataFrame | None = None,
        future_covariates: pd.DataFrame | None = None,
        static_covariates: pd.DataFrame | None = None,
        validation: pd.DataFrame | pd.Series | None = None,
    ) -> "Forecaster":
        """Fit on the series ``y``; ``validation`` (same layout and columns) serves models that stop early.

        ``validation`` is keyword-only (see the module docstring: ``fit(y, X)`` is refused).
        Closed-form models (the baselines) have nothing to tune on it and ignore it.
        Covariate frames (:mod:`tsseq.data.covariates`) cover the rows of ``y`` and of
        ``validation`` alike: pass frames spanning both.
        """
        series, layout = split_frame(y)
        validation_series, validation_layout = (None, None) if validation is None else split_frame(validation)
        frames = (past_covariates, future_covariates, static_covariates)
        spec, covariates, validation_covariates = self._align_covariates(
            frames, series, layout, validation_series, validation_layout
        )
        self._read_layout(layout)
        try:
            if spec is None:
                self._fit(series, validation_series)
            else:
                self._fit(series, validation_series, covariates=covariates, validation_covariates=validation_covariates)
        except DataError as error:  # the models number a panel's series; the message names them as the caller did
            raise _series_named(error, layout).with_traceback(error.__traceback__) from None
        self.layout_ = layout
        self.n_channels_ = layout.n_channels
        self.covariate_spec_ = spec
        return self

    def _align_covariates(self, frames, series, layout, validation_series=None, validation_layout=None):
        """``(spec, training covariates, validation covariates)`` of the frames given to ``fit``; all None without any."""
        if all(frame is None for frame in frames):
            return None, None, None
        spec = covariate_spec(*frames, target_columns=layout.columns)
        self._check_kinds(spec.kinds)
        covariates = align(spec, *frames, layout, [len(values) for values in series])
        validation_covariates = None
        if validation_series is not None:
            lengths = [len(values) for values in validation_series]
            validation_covariates = align(spec, *frames, validation_layout, lengths, "validation")
        return spec, covariates, validation_covariates

    def _check_kinds(self, kinds) -> None:
        """Refuse covariate kinds this model does not take (a ConfigError naming the model, the kind, what it takes)."""
        refused = [kind for kind in kinds if kind not in self.supported_covariates]
        if refused:
            from tsseq.registry import name_of

            takes = [kind for kind in KINDS if kind in self.supported_covariates]
            what = f"it takes {' and '.join(takes)} covariates only" if takes else "it takes no covariates"
            raise ConfigError(
                f"{name_of(self)} does not take {refused[0]} covariates: {what}. "
                f"{self._covariates_note()}".rstrip()
            )

    def _refuse_covariates(self, past: object, future: object, static: object) -> None:
        """For a model that overrides ``fit`` and takes no covariates: refuse those given as :meth:`fit` would."""
        self._check_kinds([kind for kind, frame in zip(KINDS, (past, future, static)) if frame is not None])

    def _covariates_note(self) -> str:
        """Why this model refuses some kinds, said after the refusal (subclasses explain their architecture)."""
        return ""

    def _future_arguments(self, future_covariates: object, horizon: int, what: str = "predict") -> dict[str, object]:
        """``{"future_covariates": [(horizon, F) per series]}`` for a model fitted with future covariates, else ``{}``.

        ``what``: the method asking, named in the errors.
        """
        spec: CovariateSpec | None = getattr(self, "covariate_spec_", None)
        if spec is None or not spec.future:
            if future_covariates is not None:
                raise DataError(
                    "future_covariates were given to a model fitted without future covariates; fit it with "
                    "future_covariates=... first, or leave them out."
                )
            return {}
        return {"future_covariates": horizon_rows(spec, future_covariates, self.layout_, horizon, what)}

    def predict(self, horizon: int, *, future_covariates: pd.DataFrame | None = None, quantiles: object = None) -> pd.DataFrame:
        """The next ``horizon`` rows of every series.

        ``future_covariates``: required by a model fitted with future covariates, covering
        the ``horizon`` timestamps after each series' end. With ``quantiles`` (levels in (0, 1)), each column ``y`` is followed by one column
        per level, ``y_q0.05`` ..., increasing left to right and never crossing.
        """
        check_is_fitted(self, "layout_")
        horizon = check_positive_int(horizon, "horizon")
        future = self._future_arguments(future_covariates, horizon)
        forecasts = self._predict(horizon, **future)
        self._check_finite(forecasts, "point forecast")
        if quantiles is None:
            return self.layout_.to_frame(forecasts)
        levels = check_levels(quantiles)
        return self.layout_.to_quantile_frame(
            forecasts, self._quantiles(horizon, levels, future), [f"q{level_label(level)}" for level in levels]
        )

    def predict_interval(
        self, horizon: int, *, future_covariates: pd.DataFrame | None = None, coverage: float = 0.9
    ) -> pd.DataFrame:
        """Central prediction intervals: ``y``, ``y_lower``, ``y_upper`` for each column ``y``.

        The bounds are the ``(1 - coverage) / 2`` and ``(1 + coverage) / 2`` quantiles.
        """
        check_is_fitted(self, "layout_")
        horizon = check_positive_int(horizon, "horizon")
        levels = interval_levels(check_coverage(coverage))
        future = self._future_arguments(future_covariates, horizon)
        forecasts = self._predict(horizon, **future)
        self._check_finite(forecasts, "point forecast")
        return self.layout_.to_quantile_frame(forecasts, self._quantiles(horizon, levels, future), ["lower", "upper"])

    def sample(
        self, horizon: int, n: int = 100, *, future_covariates: pd.DataFrame | None = None, seed: int | None = 0
    ) -> pd.DataFrame:
        """``n`` sample paths of the next ``horizon`` rows, indexed by ([series,] sample, timestamp).

        Aggregates come from the paths, e.g. the distribution of a weekly total:
        ``paths.groupby(level="sample").sum().quantile([0.05, 0.95])``. Models that
        decode autoregressively draw whole paths ancestrally (each step conditioned on
        the values drawn before it); direct multi-step models draw each step from its
        own marginal distribution (the per-step quantiles are right, the dependence
        between steps is not modelled).
        """
        check_is_fitted(self, "layout_")
        horizon = check_positive_int(horizon, "horizon")
        n = check_positive_int(n, "n")
        if seed is not None:
            check_positive_int(seed, "seed", minimum=0)
        self.require_probabilistic("sample paths")
        future = self._future_arguments(future_covariates, horizon)
        samples = self._sample(horizon, n, np.random.default_rng(seed), **future)
        self._check_finite(samples, "sample paths")
        return self.layout_.to_sample_frame(samples)

    def predict_windows(
        self, inputs: np.ndarray, horizon: int, *, quantiles: object = None, covariates: WindowCovariates | None = None
    ) -> np.ndarray:
        """Forecast ``horizon`` steps after each of ``N`` input windows ``(N, L, C)``.

        Returns ``(N, horizon, C)``, or with ``quantiles`` (``Q`` levels)
        ``(N, horizon, C, Q)``, the levels sorted increasing. A model fitted with
        covariates needs each window's ``covariates``
        (:func:`tsseq.data.covariates.window_covariates`: past ones of its ``L`` rows, future
        ones of its rows and its ``horizon``); its ``_predict_windows`` (and
        ``_predict_windows_quantiles``) then receive ``covariates=``.
        """
        check_is_fitted(self, "layout_")
        horizon = check_positive_int(horizon, "horizon")
        spec = getattr(self, "covariate_spec_", None)
        if spec is not None and covariates is None:
            raise ConfigError(
                "predict_windows (and backtesting) of a model fitted with covariates needs the windows' covariates "
                f"({', '.join(spec.kinds)} covariates were given to fit): pass covariates=window_covariates(...), or "
                "backtest with historical_forecasts(..., past_covariates=..., future_covariates=..., static_covariates=...)."
            )
        if spec is None and covariates is not None:
            raise DataError("covariates were given to predict_windows of a model fitted without covariates; leave them out.")
        inputs = np.asarray(inputs, dtype=np.float64)
        if inputs.ndim != 3 or inputs.shape[2] != self.n_channels_:
            raise DataError(
                f"predict_windows expects inputs of shape (N, L, {self.n_channels_}) "
                f"(windows, input length, channels). Got shape {inputs.shape}."
            )
        options = {}
        if covariates is not None:
            _check_window_covariates(spec, covariates, inputs.shape[:2], horizon)
            options = {"covariates": covariates}
        if quantiles is None:
            return self._predict_windows(inputs, horizon, **options)
        levels = check_levels(quantiles)
        self.require_probabilistic("quantiles")
        return noncrossing(self._predict_windows_quantiles(inputs, horizon, levels, **options))

    def check_params(self) -> None:
        """Check the parameters as :meth:`fit` checks them first, before it reads any data.

        Raises a :class:`~tsseq.errors.ConfigError` naming the parameter and what it takes, so
        that a job can refuse a bad model before it trains the others. Checks that need the
        data (an input length against a series' length) stay with :meth:`fit`. Each kind of
        model overrides this with its own checks; the base class has none.
        """

    def for_quantiles(self) -> Forecaster:
        """This model set up to forecast quantiles where it is free to choose how (``auto``); else itself.

        Called before fitting when quantiles are asked for (``tsseq forecast --quantiles``),
        so that a model that picks its own settings picks probabilistic ones; a model whose
        settings the user chose is left as it is (:meth:`require_probabilistic` then says how).
        """
        return self

    @property
    def probabilistic(self) -> bool:
        """Whether this model, as configured, gives quantiles and sample paths, not only points."""
        return type(self)._predict_quantiles is not Forecaster._predict_quantiles

    def _quantiles(self, horizon: int, levels: np.ndarray, future: dict | None = None) -> list[np.ndarray]:
        self.require_probabilistic("quantiles")
        quantiles = [noncrossing(values) for values in self._predict_quantiles(horizon, levels, **(future or {}))]
        self._check_finite(quantiles, "quantile forecast", channel_axis=1)  # (H, C, Q)
        return quantiles

    def require_levels(self, levels: object) -> None:
        """Refuse, before fitting, quantile ``levels`` this model cannot give (a ConfigError saying how to get them):
        a point-only model any, a network trained on the quantile loss those outside its training levels."""
        self.require_probabilistic("quantiles")

    def require_probabilistic(self, what: str = "quantiles") -> None:
        """Raise a ConfigError saying how to get ``what`` when this model gives point forecasts only."""
        if not self.probabilistic:
            from tsseq.registry import name_of

            name = name_of(self)
            raise ConfigError(
                f"{name} gives point forecasts only, not {what}. Train a neural model with a probabilistic "
                "loss (training.loss: quantile, normal, student_t or negative_binomial), or wrap this one in "
                f"conformal intervals: tsseq.create('conformal', model={name!r})."
            )

    def _check_finite(self, arrays: list[np.ndarray], what: str, channel_axis: int = -1) -> None:
        """Refuse NaN or infinite forecasts (ForecastError), naming the series and columns that have them."""
        check_finite_forecast(arrays, what, self.layout_.series_ids, self.layout_.columns, channel_axis)

    def score(self, y: pd.DataFrame | pd.Series, *, future_covariates: pd.DataFrame | None = None) -> float:
        """Negative mean squared error of a forecast of the rows of ``y`` (greater is better).

        ``y`` holds the rows that follow the training data, in the same layout;
        ``future_covariates`` cover them for a model fitted with future covariates.
        """
        check_is_fitted(self, "layout_")
        require_pandas(y, "score's y")
        truth = y.to_frame() if isinstance(y, pd.Series) else y
        fitted = [str(column) for column in self.layout_.columns]
        unknown = [column for column in truth.columns if str(column) not in fitted]
        if unknown:
            raise DataError(
                f"score() got columns {list(map(str, truth.columns))}; this model was fitted on {fitted}: "
                f"{', '.join(map(repr, map(str, unknown)))} {'is' if len(unknown) == 1 else 'are'} not among them."
            )
        if isinstance(truth.index, pd.MultiIndex):
            horizon = int(truth.groupby(level=0, sort=False).size().max())
        else:
            horizon = len(truth)
        forecast = self.predict(horizon, future_covariates=future_covariates).reindex(truth.index)
        if forecast.isna().to_numpy().any():
            raise DataError(
                "score() expects the rows right after the training data, with the same timestamps "
                "and series; some rows of y are not among the forecast timestamps."
            )
        error = truth.to_numpy(dtype=np.float64) - forecast[list(truth.columns)].to_numpy(dtype=np.float64)
        return -float(np.nanmean(error**2))

    def save(self, path) -> None:
        """Write the fitted model to one file (tensors and JSON, no pickle); :func:`tsseq.load_model` reads it back."""
        from tsseq import persistence  # imports torch: only when a model is saved

        persistence.save(self, path)

    def historical_forecasts(self, y: pd.DataFrame | pd.Series, *, start: object, horizon: int, **options) -> pd.DataFrame:
        """The forecasts this model would have made from every origin of ``y`` after ``start``, as a long frame.

        Columns ``[series,] cutoff, timestamp``, each target and its quantile columns;
        ``options``: ``stride``, ``refit``, ``window``, ``quantiles``, ``train_length``,
        ``input_length``, and the covariate frames of :meth:`fit` (``past_covariates``,
        ``future_covariates``, ``static_covariates``, covering the rows of ``y``: each
        cutoff's forecast reads past covariates up to the cutoff and future ones over its
        horizon) (:func:`tsseq.backtesting.historical_forecasts`). This model is cloned for
        every fit, never changed.
        """
        from tsseq.backtesting import historical_forecasts

        return historical_forecasts(self, y, start=start, horizon=horizon, **options)

    def backtest(self, y: pd.DataFrame | pd.Series, *, start: object, horizon: int, metric: object = "mae", **options) -> pd.DataFrame:
        """Score :meth:`historical_forecasts` with ``metric`` per horizon step and overall (:func:`tsseq.backtesting.backtest`)."""
        from tsseq.backtesting import backtest

        return backtest(self, y, start=start, horizon=horizon, metric=metric, **options)

    def _read_layout(self, layout: SeriesLayout) -> None:
        """Fitted attributes a model reads off the data's layout before ``_fit`` (a season from its frequency)."""

    # Subclasses implement these three on arrays.
    def _fit(self, series: list[np.ndarray], validation: list[np.ndarray] | None = None) -> None:
        raise NotImplementedError

    def _predict(self, horizon: int) -> list[np.ndarray]:
        raise NotImplementedError

    def _predict_windows(self, inputs: np.ndarray, horizon: int) -> np.ndarray:
        raise NotImplementedError

    # Probabilistic models implement these (see the module docstring).
    def _predict_quantiles(self, horizon: int, levels: np.ndarray) -> list[np.ndarray]:
        raise NotImplementedError

    def _predict_windows_quantiles(self, inputs: np.ndarray, horizon: int, levels: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _sample(self, horizon: int, n: int, rng: np.random.Generator) -> list[np.ndarray]:
        raise NotImplementedError


_SERIES_NUMBER = re.compile(r"\b([Ss])eries (\d+)\b")


def _series_named(error: DataError, layout: SeriesLayout) -> DataError:
    """``error`` with each ``series N`` of its message (the N-th array a model was fitted on) named by the id of
    that series in ``layout``; unchanged for one series."""
    ids = layout.series_ids
    if ids is None:
        return error

    def named(match: re.Match) -> str:
        position = int(match.group(2))
        return f"{match.group(1)}eries {ids[position]!r}" if position < len(ids) else match.group(0)

    return type(error)(_SERIES_NUMBER.sub(named, str(error)))
