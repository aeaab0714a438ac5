"""Ensembles of registered forecasters: mean, median, or weights fitted on a validation tail.

:class:`EnsembleForecaster` (registered as ``"ensemble"``) fits ``M`` members on the same
frame and combines their forecasts ``yhat_1 .. yhat_M`` element by element (every series,
step and channel). A member is given as a YAML ``models:`` entry is: a registered name,
or a mapping ``{name, params, label}`` (:class:`tsseq.config.ModelConfig`, parsed and
checked by the same code as a pipeline's models).

* ``combine="mean"``: ``yhat = (1 / M) sum_i yhat_i``.
* ``combine="median"``: ``yhat = median_i yhat_i``. With three members, one that goes
  astray on a series (an explosive AR fit, a diverged network) cannot move it.
* ``combine="weighted"``: ``yhat = sum_i w_i yhat_i`` with ``w_i >= 0``, ``sum_i w_i = 1``.
  The last ``validation_length`` rows of every series (by default the horizon) are held
  out; the members are fitted on the rows before them and forecast them, and ::

      w = argmin_{w in simplex} sum_{k} ( (sum_i w_i yhat_{i,k} - y_k) / s_k )^2

  over every held-out value ``k`` that is observed, ``s_k`` the scale of its series and
  channel (the mean absolute one-step change of the rows before the tail, MASE's
  denominator: series of very different magnitudes, as M4's, weigh alike). One series:
  rolling origins through the tail (every origin with ``horizon`` rows after it),
  forecast through ``predict_windows``; many series: one origin per series, at the start
  of its tail, through ``predict`` (a model fitted on many series, as AR, may refuse
  windows). The problem is solved by SLSQP (:func:`simplex_least_squares`), then the
  members are refitted on every row.

  When ``fit`` is given a ``validation`` frame of one series (a protocol's validation
  split, which starts with the input rows of its first window, as the neural members'
  early stopping reads it), the weights are fitted on it instead: the members are fitted
  once, on ``y``, and forecast every origin of the validation frame that has
  ``input_length`` rows before it and ``horizon`` after it (through ``predict_windows``,
  ``s_k`` the scale of ``y``). Nothing is held out of ``y`` and nothing is refitted,
  which halves the cost of expensive members; ``validation_length`` does not apply.
  ``refit`` names members to refit once the weights are fixed, on the rows of ``y`` and
  of the validation frame together (the most recent rows, which the weights were fitted
  on); with ``"mean"`` or ``"median"`` and a validation frame of one series, it refits
  them the same way after their fits, whose early stopping read that frame. A member
  fitted in closed form (AR, VAR, linear) is simply fitted again, in seconds. A trained
  (neural) member has nothing left to stop it early, so it trains for the epochs its
  validated fit chose (the best epoch's count when it restored the best weights, else
  every epoch it ran), no rows held out, early stopping off: the usual "refit on all the
  data with the chosen epoch count".

``seeds=[0, 1, 2]`` turns one recipe into a seed ensemble: one member per seed, its
``training.seed`` set (a model fitted in closed form has no seed and is refused).

**Quantiles** (when every member is probabilistic) are combined level by level, the
quantile averaging of Vincentization: ``q(tau) = sum_i w_i q_i(tau)`` (mean: ``w_i = 1 /
M``; weighted) or ``q(tau) = median_i q_i(tau)`` (median). They never cross: each
``q_i`` is non-decreasing in ``tau`` (tsseq's quantiles never cross), and so are a
combination of them with non-negative weights and their pointwise median (an order
statistic of non-decreasing functions). **Sample paths** draw, for each path, a member
with probability ``w_i`` (uniform for the median) and then that member's path: the
mixture of the members (a linear pool), whose marginal quantiles are not the Vincentized
ones (the mixture is wider where the members disagree), but whose paths keep each
member's dependence between steps.

``predict_windows`` gives each member the last ``input_length`` steps of each window (the
whole window to members without one, such as AR and the naive family).

**Covariates** (:mod:`tsseq.data.covariates`) go to the members that take them: each
member is fitted with the kinds it takes (``supported_covariates``; e.g. AR's future ones,
a GRU's past, future and static ones) and forecasts with the horizon's future covariates
when it was fitted with them; the others are fitted on the values alone (``member_covariates_``
says which got what). The ensemble takes a kind when at least one member does, and
refuses one that no member takes, naming every member and the kinds it takes.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from tsseq import registry
from tsseq.base import Forecaster, SeriesLayout, check_positive_int, split_frame, store_arguments
from tsseq.config import ModelConfig, check_parameters, from_mapping
from tsseq.backtesting import COVARIATE_ARGUMENTS, forecast_origins
from tsseq.data.covariates import KINDS, covariate_spec
from tsseq.conformal import ConformalForecaster, history_scale
from tsseq.data.checks import check_series
from tsseq.errors import ConfigError, DataError, closest_match, located

COMBINES = ("mean", "median", "weighted")
DEFAULT_HORIZON = 24  # the validation forecasts' length when neither the ensemble nor a member sets one


def simplex_least_squares(forecasts: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``argmin_w ||forecasts.T @ w - target||^2`` subject to ``w >= 0`` and ``sum(w) = 1``.

    ``forecasts (M, K)``, ``target (K,)`` -> ``w (M,)``. Solved by SciPy's SLSQP on the
    normal equations (``M x M``, however many values): it takes the equality and the
    bounds as exact constraints, whereas ``scipy.optimize.nnls`` knows only ``w >= 0``
    and the sum would have to be a heavily weighted extra row (a penalty, met only
    approximately, that worsens the conditioning). The objective is convex, so SLSQP's
    local minimum is the global one; ties (members with identical forecasts) may split.
    """
    from scipy.optimize import minimize

    count = len(forecasts)
    if count == 1:
        return np.ones(1)
    gram, cross = forecasts @ forecasts.T, forecasts @ target  # (M, M), (M,)
    norm = max(float(np.trace(gram)) / count, np.finfo(float).tiny)  # O(1) values for SLSQP's tolerance
    gram, cross = gram / norm, cross / norm
    result = minimize(
        lambda w: w @ gram @ w - 2 * cross @ w,
        np.full(count, 1 / count),
        jac=lambda w: 2 * (gram @ w - cross),
        method="SLSQP",
        bounds=[(0.0, 1.0)] * count,
        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1, "jac": lambda w: np.ones(count)}],
        options={"ftol": 1e-14, "maxiter": 500},
    )
    if not result.success:
        message = f"Ensemble weights: SLSQP stopped early ({result.message}); its last weights are used."
        warnings.warn(message, UserWarning, stacklevel=3)
    weights = np.clip(result.x, 0.0, None)
    return weights / weights.sum()


def rows_with_validation(frame: pd.DataFrame, validation: pd.DataFrame | pd.Series) -> pd.DataFrame:
    """``frame``'s rows followed by those of ``validation`` after them (a protocol's validation split repeats the last
    rows of the training split as its first window's input), what ``refit`` members are fitted on."""
    validation = validation.to_frame() if isinstance(validation, pd.Series) else validation
    later = validation[~validation.index.isin(frame.index)]
    if len(later) and later.index.min() <= frame.index.max():
        raise DataError(
            f"refit fits members on the fit rows and then the validation rows, but the validation frame has rows from "
            f"{later.index.min()} not in the fit rows, which end at {frame.index.max()}: pass a validation frame that "
            "continues them."
        )
    return pd.concat([frame, later])


def _series_arrays(frame: pd.DataFrame, layout: SeriesLayout) -> list[np.ndarray]:
    """A member's output frame (in the ensemble's layout) -> one array of all its columns per series."""
    if layout.series_ids is None:
        return [frame.to_numpy(dtype=np.float64)]
    return [group.to_numpy(dtype=np.float64) for _, group in frame.groupby(level=0, sort=False)]


def _parse_member(spec: object, position: int) -> ModelConfig:
    """One member spec (a name, a ``{name, params, label}`` mapping or a ModelConfig) -> ModelConfig."""
    where = f"ensemble members[{position}]"
    if isinstance(spec, ModelConfig):
        config = spec
    elif isinstance(spec, str):
        config = ModelConfig(spec)
    elif isinstance(spec, Mapping):
        config = from_mapping(ModelConfig, dict(spec), where=where)
    else:
        raise ConfigError(
            f"{where}: expected a registered model name or a mapping {{name, params, label}}, e.g. "
            f"{{'name': 'ar', 'params': {{'max_order': 24}}}}. Got {spec!r} instead."
        )
    try:
        registry.get(config.name)
    except ConfigError as error:
        raise ConfigError(f"{where}: {error}") from None
    return config


def _with_seed(training: object, seed: int) -> object:
    """A member's ``training`` (None, a mapping or a TrainingConfig) with ``seed`` set."""
    import dataclasses

    if training is None:
        return {"seed": seed}
    if dataclasses.is_dataclass(training) and not isinstance(training, type):
        return dataclasses.replace(training, seed=seed)
    if isinstance(training, Mapping):
        return {**training, "seed": seed}
    return training  # not a training configuration: the member's own checks name it


@registry.register("ensemble")
class EnsembleForecaster(Forecaster):
    """Mean, median or validation-weighted combination of registered forecasters, seed ensembles included.

    Parameters
    ----------
    members : sequence of str or mapping
        Registered model names or ``{"name", "params", "label"}`` mappings (the shape of a
        YAML ``models:`` entry), at least one.
    combine : {"mean", "median", "weighted"}
    validation_length : int, optional
        Rows held out at the end of each series to fit the weights (``"weighted"`` only);
        at least the horizon, which is the default.
    seeds : sequence of int, optional
        A seed ensemble: ``members`` is one recipe, fitted once per seed (``training.seed``).
    horizon : int, optional
        The validation forecasts' length; the smallest of the members' own ``horizon``,
        else 24. Passed, as is ``input_length``, to every member that takes it and does not
        set it (as a protocol passes its horizon).
    input_length : int, optional
        Only passed to the members (see ``horizon``): each reads its own input length.
    refit : sequence of str, optional
        Labels of members refitted on the fit rows and the validation frame together, once
        the weights are fitted on that frame (``"weighted"``) or after the members' fits
        that it stopped early (``"mean"``, ``"median"``), when ``fit`` is given a
        ``validation`` frame of one series (module docstring), e.g. ``["ar"]``.

    Attributes
    ----------
    members_ : list of Forecaster
        The fitted members, fitted on every row.
    labels_ : list of str
        Each member's name in messages: its label, else its name (``#2`` for a repeat,
        ``[seed=s]`` in a seed ensemble).
    weights_ : (M,) float
        The combination weights (uniform for mean and median).
    validation_errors_ : (M,) float or None
        ``"weighted"``: each member's mean squared scaled error on the validation tail.
    input_lengths_ : list of int or None
        The steps of a window each member reads (None: the whole window).
    refitted_ : list of str
        The labels of the members refitted on the validation frame's rows too (``refit``).
    horizon_ : int
    """

    def __init__(
        self,
        *,
        members: Sequence[str | Mapping] = ("naive", "ar"),
        combine: str = "mean",
        validation_length: int | None = None,
        seeds: Sequence[int] | None = None,
        horizon: int | None = None,
        input_length: int | None = None,
        refit: Sequence[str] | None = None,
    ) -> None:
        store_arguments(self, locals())

    # ------------------------------------------------------------------ members
    def check_params(self) -> None:
        """The ensemble's parameters, then each member's (:meth:`Forecaster.check_params`), naming the member."""
        for config in self.member_configs():
            try:
                self._build_member(config).check_params()
            except ConfigError as error:
                raise located(error, f"Ensemble member {config.display_name!r}") from None

    def member_configs(self) -> list[ModelConfig]:
        """The members as ModelConfigs (seeds applied, labels made unique), every parameter checked."""
        if self.combine not in COMBINES:
            raise ConfigError(
                f"The 'combine' parameter must be one of {', '.join(COMBINES)}. Got {self.combine!r} instead."
                f"{closest_match(str(self.combine), COMBINES)}"
            )
        for name in ("validation_length", "horizon", "input_length"):
            if getattr(self, name) is not None:
                check_positive_int(getattr(self, name), name)
        if isinstance(self.members, (str, Mapping)) or not isinstance(self.members, Sequence) or not self.members:
            raise ConfigError(
                "The 'members' parameter must be a non-empty list of registered model names or {name, params, label} "
                f"mappings, e.g. ['naive', {{'name': 'ar', 'params': {{'max_order': 24}}}}]. Got {self.members!r} instead."
            )
        configs = [_parse_member(spec, position) for position, spec in enumerate(self.members)]
        if self.seeds is not None:
            configs = self._seeded(configs)
        seen: dict[str, int] = {}  # labels name the members in messages: a repeated one becomes "ar#2"
        unique = []
        for config in configs:
            seen[config.display_name] = repeat = seen.get(config.display_name, 0) + 1
            label = config.display_name + (f"#{repeat}" if repeat > 1 else "")
            unique.append(ModelConfig(config.name, dict(config.params), label))
        self._check_refit([config.display_name for config in unique])
        return unique

    def _check_refit(self, labels: list[str]) -> None:
        """``refit``: None or a list of the members' ``labels``."""
        if self.refit is None:
            return
        if isinstance(self.refit, (str, Mapping)) or not isinstance(self.refit, Sequence):
            raise ConfigError(
                f"The 'refit' parameter must be a list of member labels, e.g. ['ar']. Got {self.refit!r} instead."
            )
        unknown = [label for label in self.refit if label not in labels]
        if unknown:
            raise ConfigError(
                f"The 'refit' parameter names {', '.join(map(repr, unknown))}, which no member is labelled."
                f"{closest_match(str(unknown[0]), labels)} The members: {', '.join(labels)}."
            )

    def _seeded(self, configs: list[ModelConfig]) -> list[ModelConfig]:
        seeds = self.seeds
        if isinstance(seeds, (str, Mapping)) or not isinstance(seeds, Sequence) or not seeds:
            raise ConfigError(
                f"The 'seeds' parameter must be a non-empty list of ints >= 0, e.g. [0, 1, 2]. Got {seeds!r} instead."
            )
        for seed in seeds:
            check_positive_int(seed, "seeds", minimum=0)
        if len(set(seeds)) != len(seeds):
            raise ConfigError(f"The 'seeds' parameter repeats a seed (the members would be identical). Got {list(seeds)!r}.")
        if len(configs) != 1:
            raise ConfigError(
                f"A seed ensemble ('seeds') fits one recipe once per seed: give exactly one member, not {len(configs)}."
            )
        (config,) = configs
        if "training" not in registry.parameters(config.name):
            raise ConfigError(
                f"seeds set each member's training.seed, but {config.name!r} has no training settings: it is fitted in "
                "closed form and every seed would give the same model. Use seeds with a neural model."
            )
        return [
            ModelConfig(config.name, {**config.params, "training": _with_seed(config.params.get("training"), seed)},
                        f"{config.display_name}[seed={seed}]")
            for seed in seeds
        ]

    def _build_member(self, config: ModelConfig) -> Forecaster:
        """The unfitted member of ``config``, given the ensemble's horizon and input_length where it takes them."""
        accepted = registry.parameters(config.name)
        params = dict(config.params)
        for name in ("horizon", "input_length"):
            if getattr(self, name) is not None and name in accepted:
                params.setdefault(name, getattr(self, name))
        owner = f"Ensemble member {config.display_name!r}"
        params = check_parameters(registry.get(config.name), params, owner)  # its messages name the owner
        try:
            return registry.create(config.name, **params)
        except ConfigError as error:  # an unknown parameter
            raise ConfigError(f"{owner}: {error}") from None

    def _point_only_members(self) -> list[str]:
        return [label for label, member in self._labelled_members() if not member.probabilistic]

    @property
    def supported_covariates(self) -> frozenset[str]:
        """The covariate kinds at least one member takes (each member gets the kinds it takes)."""
        return frozenset(kind for _, member in self._labelled_members() for kind in member.supported_covariates)

    def _labelled_members(self) -> list[tuple[str, Forecaster]]:
        if hasattr(self, "members_"):
            return list(zip(self.labels_, self.members_))
        return [(config.display_name, self._build_member(config)) for config in self.member_configs()]

    def _covariates_note(self) -> str:
        takes = [f"{label!r} takes {', '.join(sorted(m.supported_covariates, key=KINDS.index)) or 'none'}"
                 for label, m in self._labelled_members()]
        return f"No member takes them: {'; '.join(takes)}. Add a member that does, e.g. 'gru' (past, future, static)."

    @staticmethod
    def _member_covariates(member: Forecaster, frames: tuple) -> dict:
        """The covariate frames of ``fit`` that ``member`` takes, as its keyword arguments."""
        return {argument: frame for argument, kind, frame in zip(COVARIATE_ARGUMENTS, KINDS, frames)
                if frame is not None and kind in member.supported_covariates}

    @staticmethod
    def _member_future(member: Forecaster, frame: pd.DataFrame | None) -> dict:
        """``{"future_covariates": frame}`` for a member fitted with future covariates, else ``{}``."""
        spec = getattr(member, "covariate_spec_", None)
        return {"future_covariates": frame} if spec is not None and spec.future else {}

    def _future_frame(self, future_covariates: list[np.ndarray] | None) -> pd.DataFrame | None:
        """The horizon's future covariates ``(h, F)`` per series back as a frame in the fitted layout, for the members."""
        if future_covariates is None:
            return None
        layout = SeriesLayout(self.covariate_spec_.future, self.layout_.freq, self.layout_.last_timestamps,
                              self.layout_.series_ids, self.layout_.index_names)
        return layout.to_frame(future_covariates)

    @property
    def probabilistic(self) -> bool:
        """True when every member gives quantiles and sample paths."""
        return not self._point_only_members()

    def require_probabilistic(self, what: str = "quantiles") -> None:
        """Raise a ConfigError naming the members that give point forecasts only, and how to give them intervals."""
        lacking = self._point_only_members()
        if lacking:
            raise ConfigError(
                f"This ensemble gives point forecasts only, not {what}: its member(s) {', '.join(map(repr, lacking))} "
                "give point forecasts only. Train them with a probabilistic loss (training.loss: quantile, normal, "
                "student_t or negative_binomial), or wrap each in conformal intervals, e.g. the member "
                "{'name': 'conformal', 'params': {'model': 'segrnn', 'model_params': {...}}}."
            )

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        y: pd.DataFrame | pd.Series,
        *,
        past_covariates: pd.DataFrame | None = None,
        future_covariates: pd.DataFrame | None = None,
        static_covariates: pd.DataFrame | None = None,
        validation: pd.DataFrame | pd.Series | None = None,
    ) -> "EnsembleForecaster":
        """Fit the weights (``"weighted"``), then every member on all of ``y``; ``validation`` is passed to each member.

        ``"weighted"`` with a ``validation`` frame of one series fits the weights on it after
        the members are fitted (module docstring): no tail held out, and only the members
        that ``refit`` names are refitted, on the rows of ``y`` and ``validation`` together.

        Covariates go to the members that take them (module docstring); a kind no member
        takes is refused (a ConfigError naming the members and what each takes).
        """
        configs = self.member_configs()
        frame = y.to_frame() if isinstance(y, pd.Series) else y
        series, layout = split_frame(frame)
        frames = (past_covariates, future_covariates, static_covariates)
        spec = None
        if any(part is not None for part in frames):
            spec = covariate_spec(*frames, target_columns=layout.columns)
            self._check_kinds(spec.kinds)
        options = {} if validation is None else {"validation": validation}
        members = [self._build_member(config) for config in configs]
        covariates = [self._member_covariates(member, frames) for member in members]
        own = [m.get_params(deep=False).get("horizon") for m in members]
        horizon = self.horizon or min((h for h in own if isinstance(h, int)), default=DEFAULT_HORIZON)
        one_validation_series = validation is not None and layout.series_ids is None  # refit reads its rows
        on_validation = self.combine == "weighted" and one_validation_series
        if on_validation:
            if self.validation_length is not None:
                warnings.warn("validation_length is ignored: the weights are fitted on the validation frame given to fit.",
                              UserWarning, stacklevel=2)
            weights = errors = None  # after the members are fitted, below
        elif self.combine == "weighted":
            weights, errors = self._fit_weights(configs, frame, series, layout, horizon, options, frames)
        else:
            if self.validation_length is not None:
                warnings.warn(f"validation_length is used by combine='weighted' only; combine={self.combine!r} ignores it.",
                              UserWarning, stacklevel=2)
            weights, errors = np.full(len(members), 1 / len(members)), None
        refit = list(self.refit or ())  # checked by member_configs
        if refit and not one_validation_series:
            warnings.warn(
                "refit is used with a validation frame of one series given to fit; here every member is fitted on all "
                "of y already, and refit is ignored.", UserWarning, stacklevel=2,
            )  # fmt: skip
            refit = []
        self.members_ = [member.fit(frame, **options, **given) for member, given in zip(members, covariates)]
        if on_validation:
            weights, errors = self._fit_validation_weights(configs, validation, series[0], horizon, frames)
        self._refit_members(configs, refit, frame, validation, covariates)
        self.refitted_ = refit
        self.covariate_spec_ = spec
        self.member_covariates_ = {
            config.display_name: [argument.partition("_")[0] for argument in given] for config, given in zip(configs, covariates)
        }
        self.weights_, self.validation_errors_ = weights, errors
        self.labels_, self.horizon_ = [config.display_name for config in configs], horizon
        self.input_lengths_ = [m.get_params(deep=False).get("input_length") for m in self.members_]
        self.layout_, self.n_channels_ = layout, layout.n_channels
        return self

    def _fit_weights(self, configs: list[ModelConfig], frame: pd.DataFrame, series: list[np.ndarray],
                     layout: SeriesLayout, horizon: int, options: dict, frames: tuple = (None, None, None)
                     ) -> tuple[np.ndarray, np.ndarray]:
        """Members fitted before the validation tail forecast it -> (simplex weights, each member's scaled MSE)."""
        rows = horizon if self.validation_length is None else self.validation_length
        if rows < horizon:
            raise ConfigError(
                f"The 'validation_length' parameter must be at least the horizon ({horizon}): each validation forecast "
                f"covers {horizon} held-out rows. Got {rows} instead."
            )
        for position, values in enumerate(series):
            if len(values) <= rows:
                name = position if layout.series_ids is None else layout.series_ids[position]
                raise DataError(
                    f"Series {name!r} has {len(values)} rows; combine='weighted' holds out the last {rows} "
                    "(validation_length) and needs rows before them to fit the members on. Pass a smaller validation_length."
                )
        train = ConformalForecaster._drop_last(frame, rows, layout)
        members = [self._build_member(config) for config in configs]
        members = [member.fit(train, **options, **self._member_covariates(member, frames)) for member in members]
        labels = [config.display_name for config in configs]
        if layout.series_ids is None:
            rows_frame = check_series(frame, missing="mask")  # the rows the members were fitted on
            first = len(rows_frame) - rows
            scale = history_scale(rows_frame.to_numpy(dtype=np.float64)[:first], "naive")
            forecasts, truth = self._rolling_forecasts(members, labels, rows_frame, first, horizon, frames,
                                                       f"only {first} rows precede the validation tail of {rows} rows. "
                                                       "Pass a smaller validation_length, or a longer series")
        else:  # one origin per series: the start of its tail
            forecasts = np.stack([np.stack(_series_arrays(member.predict(horizon, **self._member_future(member, frames[1])),
                                                          layout)) for member in members])
            truth = np.stack([values[len(values) - rows : len(values) - rows + horizon] for values in series])
            scale = np.stack([history_scale(values[: len(values) - rows], "naive") for values in series])[:, None, :]
        return self._solve_weights(forecasts, truth, scale)

    def _fit_validation_weights(self, configs: list[ModelConfig], validation: pd.DataFrame | pd.Series,
                                train_values: np.ndarray, horizon: int, frames: tuple) -> tuple[np.ndarray, np.ndarray]:
        """The fitted members forecast every origin of ``validation`` -> (simplex weights, each member's scaled MSE)."""
        validation = validation.to_frame() if isinstance(validation, pd.Series) else validation
        rows_frame = check_series(validation, missing="mask")
        lengths = [member.get_params(deep=False).get("input_length") for member in self.members_]
        context = self.input_length or max((length for length in lengths if length), default=None)
        if context is None:
            raise ConfigError(
                "combine='weighted' with a validation frame forecasts its windows from input_length rows each, but no "
                "member sets input_length. Pass the ensemble's 'input_length' (the rows before the first origin)."
            )
        labels = [config.display_name for config in configs]
        forecasts, truth = self._rolling_forecasts(
            self.members_, labels, rows_frame, context, horizon, frames,
            f"the validation frame has {len(rows_frame)} rows, and its windows need {context} input rows and {horizon} "
            "after them. Pass a longer validation frame",
        )
        return self._solve_weights(forecasts, truth, history_scale(train_values, "naive"))

    def _refit_members(self, configs: list[ModelConfig], refit: list[str], frame: pd.DataFrame,
                       validation: pd.DataFrame | pd.Series, covariates: list[dict]) -> None:
        """The members labelled in ``refit`` fitted again, on ``frame``'s rows followed by ``validation``'s later ones."""
        if not refit:
            return
        rows = rows_with_validation(frame, validation)
        for position, config in enumerate(configs):
            if config.display_name in refit:
                self.members_[position] = self._refit_member(config, self.members_[position], rows, covariates[position])

    def _refit_member(self, config: ModelConfig, validated: Forecaster, rows: pd.DataFrame, covariates: dict) -> Forecaster:
        """``config``'s member fitted on ``rows`` as ``refit`` fits it, after ``validated``, its fit with validation:
        a trained member for the epochs that fit chose, no rows held out, no early stopping (module docstring)."""
        member = self._build_member(config)
        history = getattr(validated, "history_", None)
        # closed form (the naive family's history_ is its data) or nothing trained: fitted again as it is
        if hasattr(member, "training_config") and getattr(history, "best_epoch", None) is not None:
            epochs = history.best_epoch + 1 if member.training_config().restore_best else history.epochs
            member.set_params(training__epochs=epochs, training__early_stopping_patience=None, validation_fraction=0.0)
        try:
            return member.fit(rows, **covariates)
        except DataError as error:  # e.g. a gap between the fit rows and the validation rows
            where = f"refit of ensemble member {config.display_name!r} on the fit and validation rows"
            raise located(error, where) from None

    @staticmethod
    def _solve_weights(forecasts: np.ndarray, truth: np.ndarray, scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Forecasts ``(M, ..., H, C)`` and truths ``(..., H, C)``, scaled per channel -> (weights, scaled MSEs)."""
        forecasts, truth = forecasts / scale, truth / scale  # (M, ..., H, C), (..., H, C)
        observed = np.isfinite(truth) & np.isfinite(forecasts).all(axis=0)
        if not observed.any():
            raise DataError("The validation tail has no observed value to fit the ensemble weights on.")
        stacked, target = forecasts[:, observed], truth[observed]  # (M, K), (K,)
        errors = np.mean((stacked - target) ** 2, axis=1)
        return simplex_least_squares(stacked, target), errors

    def _rolling_forecasts(self, members: list[Forecaster], labels: list[str], rows_frame: pd.DataFrame, first: int,
                           horizon: int, frames: tuple, too_short: str) -> tuple[np.ndarray, np.ndarray]:
        """Forecasts ``(M, N, H, C)`` from every origin ``first .. len(rows_frame) - horizon``, truths ``(N, H, C)``.

        A member fitted with covariates reads those of each window (:func:`tsseq.backtesting.forecast_origins`);
        ``too_short`` ends the message when a member reads more rows than precede the first origin.
        """
        values = rows_frame.to_numpy(dtype=np.float64)
        origins = np.arange(first, len(values) - horizon + 1)
        if len(origins) == 0:
            raise DataError(f"No validation window to fit the ensemble weights on: {too_short}.")
        truth = values[origins[:, None] + np.arange(horizon)]
        forecasts = []
        for member, label in zip(members, labels):
            length = member.get_params(deep=False).get("input_length") or first  # else every row before the origin
            if length > first:
                raise DataError(f"Ensemble member {label!r} reads input_length={length} rows, but {too_short}.")
            point, _ = forecast_origins(member, rows_frame, origins, length, horizon, covariates=frames)
            forecasts.append(point)
        return np.stack(forecasts), truth

    # ------------------------------------------------------------------ forecasts
    def _combine(self, stacked: np.ndarray) -> np.ndarray:
        """Members' arrays ``(M, ...)`` -> the ensemble's ``(...)``."""
        if self.combine == "median":
            return np.median(stacked, axis=0)
        return np.tensordot(self.weights_, stacked, axes=1)

    def _combine_series(self, per_member: list[list[np.ndarray]]) -> list[np.ndarray]:
        """``per_member[i][s]`` -> the combination per series ``s``."""
        return [self._combine(np.stack(arrays)) for arrays in zip(*per_member)]

    @contextlib.contextmanager
    def _member(self, position: int) -> Iterator[Forecaster]:
        """Member ``position``, its refusals (a horizon beyond its own, ...) naming it."""
        try:
            yield self.members_[position]
        except (ConfigError, DataError) as error:
            raise located(error, f"Ensemble member {self.labels_[position]!r}") from None

    def _predict(self, horizon: int, future_covariates: list[np.ndarray] | None = None) -> list[np.ndarray]:
        frame = self._future_frame(future_covariates)
        per_member = []
        for position in range(len(self.members_)):
            with self._member(position) as member:
                per_member.append(_series_arrays(member.predict(horizon, **self._member_future(member, frame)), self.layout_))
        return self._combine_series(per_member)

    def _predict_quantiles(
        self, horizon: int, levels: np.ndarray, future_covariates: list[np.ndarray] | None = None
    ) -> list[np.ndarray]:
        frame = self._future_frame(future_covariates)
        per_member = []
        for position in range(len(self.members_)):
            with self._member(position) as member:
                forecast = member.predict(horizon, quantiles=levels, **self._member_future(member, frame))
            arrays = _series_arrays(forecast, self.layout_)  # (H, C·(1 + Q)) each
            per_member.append([values.reshape(len(values), self.n_channels_, -1)[..., 1:] for values in arrays])
        return self._combine_series(per_member)  # (H, C, Q) per series

    def _member_windows(self, position: int, inputs: np.ndarray) -> np.ndarray:
        """The last ``input_length`` steps of the windows that member ``position`` reads (all of them without one)."""
        length = self.input_lengths_[position]
        if length is None:
            return inputs
        if inputs.shape[1] < length:
            needed = max(n for n in self.input_lengths_ if n is not None)
            raise DataError(
                f"predict_windows got windows of {inputs.shape[1]} steps; ensemble member {self.labels_[position]!r} reads "
                f"the last input_length={length}, so the ensemble needs windows of at least {needed} steps."
            )
        return inputs[:, inputs.shape[1] - length :]

    def _windows_of_members(self, inputs: np.ndarray, horizon: int, covariates=None, **quantiles) -> np.ndarray:
        forecasts = []
        for position, member in enumerate(self.members_):
            windows = self._member_windows(position, inputs)
            spec = getattr(member, "covariate_spec_", None)
            if spec is not None:  # the kinds it was fitted with, of the rows it reads
                quantiles["covariates"] = covariates.select(spec, inputs.shape[1], windows.shape[1])
            else:
                quantiles.pop("covariates", None)
            try:
                forecasts.append(member.predict_windows(windows, horizon, **quantiles))
            except DataError as error:  # the member's own refusal, e.g. windows shorter than AR's order
                raise DataError(f"Ensemble member {self.labels_[position]!r}: {error}") from None
        return self._combine(np.stack(forecasts))

    def _predict_windows(self, inputs: np.ndarray, horizon: int, covariates=None) -> np.ndarray:
        return self._windows_of_members(inputs, horizon, covariates)

    def _predict_windows_quantiles(self, inputs: np.ndarray, horizon: int, levels: np.ndarray, covariates=None) -> np.ndarray:
        return self._windows_of_members(inputs, horizon, covariates, quantiles=levels)

    def _sample(
        self, horizon: int, n: int, rng: np.random.Generator, future_covariates: list[np.ndarray] | None = None
    ) -> list[np.ndarray]:
        frame = self._future_frame(future_covariates)
        chosen = rng.choice(len(self.members_), size=n, p=self.weights_)  # the member of each path
        paths = [np.empty((n, horizon, self.n_channels_)) for _ in self.layout_.last_timestamps]
        for position in np.unique(chosen):
            rows = np.flatnonzero(chosen == position)
            with self._member(position) as member:
                drawn = member.sample(horizon, len(rows), seed=int(rng.integers(2**31)), **self._member_future(member, frame))
            for series, values in enumerate(_series_arrays(drawn, self.layout_)):  # (k·H, C), sample-major
                paths[series][rows] = values.reshape(len(rows), horizon, -1)
        return paths
