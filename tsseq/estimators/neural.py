"""The base of the neural estimators: scaling, covariates, windows, the engine, fine-tuning."""

from __future__ import annotations

import copy
import dataclasses
import json
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from tsseq.base import Forecaster, SeriesLayout, check_positive_int, split_frame
from tsseq.config import from_mapping
from tsseq.data import target_transforms
from tsseq.data.covariates import KINDS, WindowCovariates, align
from tsseq.data.scaling import Scaler
from tsseq.data.splits import held_out_rows
from tsseq.data.windows import make_multi_series_windows
from tsseq.engine import Callback, Trainer, TrainingConfig, TrainingHistory
from tsseq.engine.checkpoint import RESULT_NEUTRAL, CheckpointJob, JobIdentity, fingerprint
from tsseq.engine.distributions import Affine, OutputDistribution, make_output, sampling
from tsseq.engine.losses import config_loss
from tsseq.errors import ConfigError, DataError, MissingValuesError, listed
from tsseq.estimators.covariates import (
    PackedCodes,
    ValuesLoss,
    check_covariates,
    covariate_statistics,
    exogenous_block,
    exogenous_rows,
    exogenous_sizes,
    row_codes,
    window_codes,
    with_horizon,
)
from tsseq.estimators.transfer import frozen
from tsseq.parameters import check_is_fitted
from tsseq.quantiles import check_levels

Frame = pd.DataFrame | pd.Series
TRAINING = "training"  # the parameter holding the training settings; "training__<field>" are nested parameters


class NeuralForecaster(Forecaster):
    """Base of the neural estimators: scaling, windows, the engine, forecasting, fine-tuning.

    Subclasses take ``input_length``, ``horizon``, ``training``,
    ``validation_fraction`` and ``scale`` (and their own arguments) as keyword-only
    constructor arguments, store them with ``store_arguments(self, locals())``, and
    implement ``_build_module()`` from the fitted sizes ``n_channels_`` and ``n_series_``,
    passing their arguments on with :meth:`_module_arguments`. A
    subclass whose module takes covariates, ``module(values (B, L, C), codes (B, L, K))``,
    also stores ``covariates`` (names of :data:`tsseq.estimators.covariates.COVARIATES`);
    the base class derives their codes and carries them through the engine
    (:mod:`tsseq.estimators.covariates`). A subclass whose module takes the user's
    covariates (``module(values, codes, exogenous (B, L, X))``, :mod:`tsseq.nn.exogenous`)
    lists their kinds in ``supported_covariates`` and passes
    ``exogenous=self._exogenous_sizes()`` to its module; the base class packs them next to
    the values, standardised (fitted ``covariate_center_``, ``covariate_scale_``), and puts
    the horizon's future covariates into the last windows at predict time.

    Training settings are the parameter ``training``: None (the defaults), a mapping of
    :class:`TrainingConfig` fields (as YAML gives them) or a TrainingConfig. Each field is
    also a nested parameter, as scikit-learn names them: ``get_params()`` lists
    ``training__epochs`` and the others, and ``set_params(training__epochs=2)`` (or a
    grid search over ``training__learning_rate``) sets ``training`` to a new, validated
    TrainingConfig with those fields changed.

    Fitted attributes: ``module_``; ``history_`` (of the last training run, :meth:`fit`
    or :meth:`fine_tune`); ``layout_``, ``center_`` and ``scale_`` ``(S, C)``,
    ``last_inputs_`` ``(S, L, C + K)`` (the last scaled window of each series forecast,
    with its covariate codes); ``n_channels_``; ``n_series_`` and ``series_ids_`` (the
    series of :meth:`fit`, whose positions are the ``"series"`` codes; ids None for a
    wide frame).

    Probabilistic forecasts: with a distribution loss (``training.loss``: ``"quantile"``,
    ``"normal"``, ``"student_t"``, ``"negative_binomial"``) the module's head predicts
    that output's parameters (:mod:`tsseq.engine.distributions`, passed to the module
    by ``_build_module`` from :meth:`output_distribution`), and ``predict(h,
    quantiles=...)``, ``predict_interval`` and ``sample`` read them. The point forecast
    is then the output's point (the median of a quantile head, the mean otherwise).
    ``"negative_binomial"`` models counts on their own scale: the series are not
    standardised, and must hold non-negative integers.

    Target transform: a subclass that takes ``target_transform`` (None, ``"log"`` or
    ``"log1p"``, :mod:`tsseq.data.target_transforms`) stores it; the base class then
    trains on ``g(y)`` (before the standardisation, so ``center_`` and ``scale_`` are
    those of ``g(y)``) and maps every forecast back with ``g^-1``: points, quantiles
    (exactly: ``g`` is increasing), sample paths and :meth:`predict_windows` (whose input
    windows are on the data's scale). Not with ``"negative_binomial"``. The transform of
    the last training run is the fitted ``target_transform_``: setting the parameter
    afterwards changes the next fit, never the fitted model's forecasts.
    """

    covariates: Sequence[str] = ()  # estimators whose module takes codes store their own
    target_transform: str | None = None  # estimators that take the parameter store their own

    def fit(
        self,
        y: Frame,
        *,
        past_covariates: pd.DataFrame | None = None,
        future_covariates: pd.DataFrame | None = None,
        static_covariates: pd.DataFrame | None = None,
        validation: Frame | None = None,
        callbacks: Sequence[Callback] = (),
        resume: bool = False,
    ) -> "NeuralForecaster":
        """Train on ``y``; early stopping and the best epoch use ``validation`` when given.

        Covariates as in :meth:`tsseq.base.Forecaster.fit`: frames covering the rows of
        ``y`` and of ``validation`` (one frame spanning both).

        Without ``validation``, the last ``validation_fraction`` of each series (after
        ``input_length`` rows of context) is held out for it. ``callbacks`` receive the
        engine's events (tracking, pruning).

        ``resume`` works with ``training.checkpoint_dir``, where every epoch's checkpoint
        is written. True: continue from the checkpoint there if it is of this job (the
        same estimator, parameters and training settings, and the same data, see
        :mod:`tsseq.engine.checkpoint`), with a result identical to an uninterrupted fit;
        start afresh if there is none; refuse one of another job with a
        :class:`~tsseq.engine.checkpoint.CheckpointMismatchError` (a ConfigError) naming
        what differs. False (the default): start afresh, warning when a checkpoint there
        is about to be replaced. So a job killed at any point, run again with
        ``resume=True``, loses at most the epoch that was running.
        """
        if not isinstance(resume, bool):
            raise ConfigError(f"The 'resume' parameter must be True or False. Got {resume!r} instead.")
        self._check_parameters()
        config = self.training_config()
        if resume and config.checkpoint_dir is None:
            raise ConfigError(
                "resume=True needs training.checkpoint_dir, the folder where each epoch's checkpoint is written "
                "(e.g. training={'checkpoint_dir': 'checkpoints/lstm'})."
            )
        series, layout = split_frame(y)
        held_out = None if validation is None else split_frame(validation)
        frames = (past_covariates, future_covariates, static_covariates)
        spec, covariates, validation_covariates = self._align_covariates(frames, series, layout, *(held_out or (None, None)))
        self.covariate_spec_ = spec
        self.covariate_center_, self.covariate_scale_ = (None, None) if spec is None else covariate_statistics(covariates)
        self.n_channels_, self.n_series_ = layout.n_channels, len(series)
        self.series_ids_ = None if layout.series_ids is None else list(layout.series_ids)
        if config.seed is not None:
            torch.manual_seed(config.seed)  # the initial weights
        module = self._build_module()
        self._run(module, config, callbacks, series, layout, held_out, resume=resume, covariates=(covariates, validation_covariates))
        return self

    def fine_tune(
        self,
        y: Frame,
        *,
        past_covariates: pd.DataFrame | None = None,
        future_covariates: pd.DataFrame | None = None,
        static_covariates: pd.DataFrame | None = None,
        validation: Frame | None = None,
        freeze: Sequence[str] = (),
        training: TrainingConfig | Mapping | None = None,
        callbacks: Sequence[Callback] = (),
    ) -> "NeuralForecaster":
        """Continue training the fitted ``module_`` on ``y``, e.g. one target series after a global fit.

        Parameters
        ----------
        y, validation : DataFrame or Series
            As in :meth:`fit`, with as many channels as the fitted data. Each series is
            standardised with statistics of its own training rows. With the ``"series"``
            covariate the series of ``y`` must be among those of :meth:`fit` (a long
            frame with their ids, or a wide frame after a wide fit): their codes are reused.
        past_covariates, future_covariates, static_covariates : DataFrame, optional
            Exactly the kinds the model was fitted with, with the fitted columns (and
            static categories), covering the rows of ``y`` and ``validation`` as in
            :meth:`fit`: the module's covariate inputs are fixed by its fit, so a
            missing kind and one it was fitted without are refused, naming the kind. A
            model fitted without covariates takes none here (its module has no weights
            that read them: fit one with them instead). The covariates are standardised
            with the statistics of the fit (``covariate_center_``, ``covariate_scale_``):
            the trained weights read them on that scale. Afterwards :meth:`predict` takes
            the future covariates of the horizon after ``y``.
        freeze : sequence of str
            Parameter-name prefixes of ``module_`` that stay fixed, e.g. ``["encoder"]``
            (:mod:`tsseq.estimators.transfer`); an unknown one raises a ConfigError
            listing the module's parts.
        training : TrainingConfig or mapping, optional
            This run's settings: a TrainingConfig replaces ``training``; a mapping
            overrides some of its fields, e.g. ``{"epochs": 5, "learning_rate": 1e-4}``.
        callbacks : sequence of Callback

        Returns
        -------
        self
            Forecasting the series of ``y``: ``layout_``, ``center_``, ``scale_``,
            ``last_inputs_`` and ``history_`` are this run's. The module is trained as a
            copy, so a run that fails leaves the estimator as it was.
        """
        check_is_fitted(self, "module_")
        self._check_parameters()
        series, layout = split_frame(y)
        if layout.n_channels != self.n_channels_:
            raise DataError(
                f"fine_tune got {layout.n_channels} channels ({', '.join(layout.columns)}); the model was fitted "
                f"on {self.n_channels_} ({', '.join(self.layout_.columns)})."
            )
        self._check_channel_order(layout.columns)
        held_out = None if validation is None else split_frame(validation)
        frames = (past_covariates, future_covariates, static_covariates)
        covariates = self._fitted_covariates(frames, series, layout, held_out, "fine_tune")
        config = self._run_config(training)
        module = copy.deepcopy(self.module_)
        with frozen(module, freeze):
            self._run(module, config, callbacks, series, layout, held_out, covariates=covariates)
        return self

    def _check_channel_order(self, columns: Sequence[object]) -> None:
        """The weights read the channels by position: the fitted ones in another order are refused (a DataError), and
        other names for several channels are read in the fitted order, with a warning pairing them (a new series of
        one channel is fine-tuned under its own name, as transfer learning does)."""
        fitted, given = [str(c) for c in self.layout_.columns], [str(c) for c in columns]
        if given == fitted or len(given) == 1:
            return
        if sorted(given) == sorted(fitted):
            raise DataError(
                f"fine_tune got the fitted channels in another order ({', '.join(given)}); the model reads them by "
                f"position, as fitted: {', '.join(fitted)}. Reorder the columns: y[{fitted!r}]."
            )
        pairs = ", ".join(f"{new!r} as {old!r}" for new, old in zip(given, fitted) if new != old)
        warnings.warn(f"fine_tune reads the channels by position: {pairs}.", UserWarning, stacklevel=3)

    def _fitted_covariates(self, frames, series, layout, held_out, what: str):
        """(training, validation) covariates of the frames given to ``what`` in the fitted spec's columns, or (None, None).

        The kinds must be those of the fit: the module's covariate inputs were sized by it.
        """
        spec = getattr(self, "covariate_spec_", None)
        given = [kind for kind, frame in zip(KINDS, frames) if frame is not None]
        self._check_kinds(given)  # a kind this model never takes: refused as fit refuses it
        fitted = () if spec is None else spec.kinds
        extra = [kind for kind in given if kind not in fitted]
        if extra:
            what_fit = f"with {' and '.join(fitted)} covariates only" if fitted else "without covariates"
            raise ConfigError(
                f"{what} got {extra[0]}_covariates, but the model was fitted {what_fit}: its module has no inputs for "
                f"{extra[0]} covariates, which only a fit with them creates. Leave them out, or fit the model with "
                f"{extra[0]}_covariates=...."
            )
        missing = [kind for kind in fitted if kind not in given]
        if missing:
            columns = {"past": spec.past, "future": spec.future, "static": spec.static_numeric + spec.static_categorical}
            raise DataError(
                f"This model was fitted with the {missing[0]} covariates {list(columns[missing[0]])}: {what} needs "
                f"{missing[0]}_covariates covering the rows of y, as fit did."
            )
        if spec is None:
            return None, None
        covariates = align(spec, *frames, layout, [len(values) for values in series])
        if held_out is None:
            return covariates, None
        validation_series, validation_layout = held_out
        lengths = [len(values) for values in validation_series]
        return covariates, align(spec, *frames, validation_layout, lengths, "validation")

    def output_distribution(self) -> OutputDistribution:
        """What the module's head predicts, from ``training.loss`` (and ``training.quantiles``)."""
        config = self.training_config()
        return make_output(config.loss, config.quantiles)

    @property
    def probabilistic(self) -> bool:
        return not self.output_distribution().is_point

    def require_levels(self, levels: object) -> None:
        super().require_levels(levels)
        self.output_distribution().check_levels(check_levels(levels))

    # ------------------------------------------------------------------ parameters
    def get_params(self, deep: bool = True) -> dict[str, object]:
        """The constructor arguments; with ``deep``, also ``training__<field>`` for each training setting.

        The nested values are the settings as given over the defaults, unvalidated (as
        every ``get_params``, this never fails; :meth:`training_config` validates).
        """
        params = super().get_params(deep=deep)
        if deep:
            params.update((f"{TRAINING}__{name}", value) for name, value in self._training_fields().items())
        return params

    def set_params(self, **params: object) -> "NeuralForecaster":
        """Set constructor arguments; ``training__<field>=value`` changes one training setting.

        ``training`` then holds a new :class:`TrainingConfig`: the settings it held, with
        the given fields changed, validated (a ConfigError names a wrong field or value);
        the object it held before is left as it was (it may be shared).
        """
        nested = {key.partition("__")[2]: params.pop(key) for key in list(params) if key.startswith(f"{TRAINING}__")}
        super().set_params(**params)
        if nested:
            self.training = from_mapping(TrainingConfig, {**self._training_fields(), **nested}, where=TRAINING)
        return self

    def _training_fields(self) -> dict[str, object]:
        """The fields of ``training`` as given, over TrainingConfig's defaults."""
        if isinstance(self.training, TrainingConfig):
            return dataclasses.asdict(self.training)
        given = dict(self.training) if isinstance(self.training, Mapping) else {}
        return {**dataclasses.asdict(TrainingConfig()), **given}

    def _module_arguments(self, *names: str, **renamed: str) -> dict[str, object]:
        """Constructor arguments for the module: ``names`` as they are, ``renamed`` as ``module_name="argument"``.

        E.g. ``self._module_arguments("dropout", d_model="hidden_size")`` ->
        ``{"dropout": self.dropout, "d_model": self.hidden_size}``.
        """
        arguments = {name: getattr(self, name) for name in names}
        arguments.update((module_name, getattr(self, name)) for module_name, name in renamed.items())
        return arguments

    def training_config(self) -> TrainingConfig:
        """``training`` as a validated :class:`TrainingConfig`."""
        if self.training is None:
            return TrainingConfig()
        if isinstance(self.training, TrainingConfig):
            return self.training
        return from_mapping(TrainingConfig, dict(self.training), where="training")

    def _run_config(self, training: TrainingConfig | Mapping | None) -> TrainingConfig:
        """The settings of one fine-tuning run: ``training`` over the estimator's own."""
        if training is None:
            return self.training_config()
        if isinstance(training, TrainingConfig):
            return training
        if not isinstance(training, Mapping):
            raise ConfigError(
                "fine_tune's 'training' must be a TrainingConfig or a mapping of its fields. "
                f"Got {type(training).__name__}."
            )
        fields = {**dataclasses.asdict(self.training_config()), **dict(training)}
        return from_mapping(TrainingConfig, fields, where="fine_tune training")

    # ------------------------------------------------------------------ training
    def _run(
        self, module, config, callbacks, series: list[np.ndarray], layout: SeriesLayout, validation, resume=None,
        covariates=(None, None),
    ) -> None:
        """Train ``module`` on the series; then it, their statistics and last windows are the fitted state.

        ``validation``: None or the (series, layout) of the validation frame; ``covariates``:
        the user's covariates of the training and of the validation rows (or None).
        ``resume`` (True or False; None: not a resumable job, as in fine-tuning) gives the
        engine a :class:`CheckpointJob` when the settings have a ``checkpoint_dir``.
        """
        self.target_transform_ = self.target_transform  # this run's: what the forecasts map back through
        rows = self._transformed(self._packed(series, layout, covariates[0]), "the training data", layout)  # (T_i, C + X + K) each
        held_out = None if validation is None else self._validation_rows(*validation, len(series), covariates[1])
        held_out = None if held_out is None else self._transformed(held_out, "the validation data", validation[1])
        train, held_out = self._split_validation(rows, held_out)
        if self.output_distribution().name == "negative_binomial":
            _check_counts(rows, self.n_channels_, layout.columns)
        self.constant_values_ = self._constant_values(series, layout)
        center, scale = self._scaling_statistics(train)

        def scaled(part: list[np.ndarray]) -> list[np.ndarray]:  # float32, as the engine trains
            return [self._scaled(values, center[i], scale[i]).astype(np.float32) for i, values in enumerate(part)]

        train, held_out = scaled(train), None if held_out is None else scaled(held_out)
        callbacks = tuple(callbacks)
        if resume is not None and config.checkpoint_dir is not None:
            identity = JobIdentity(self._job_settings(config), fingerprint(train, held_out))
            callbacks = (*callbacks, CheckpointJob(identity, resume))
        history: TrainingHistory = self._train(config, callbacks, module, train, held_out)
        self.module_, self.history_, self.layout_ = module.cpu().eval(), history, layout
        self.center_, self.scale_ = center, scale
        self.last_inputs_ = np.stack(
            [self._last_window(self._scaled(values, center[i], scale[i])) for i, values in enumerate(rows)]
        )  # (S, L, C + X + K)

    def _train(self, config: TrainingConfig, callbacks, module: torch.nn.Module, train, validation):
        """Train ``module`` on the scaled rows (float32 ``(T_i, C + K)`` arrays); returns the history."""
        windows = self._windows(train, "training")
        validation_windows = None if validation is None else self._windows(validation, "validation")
        packed = self._covariate_names() or self._exogenous_width()
        loss = ValuesLoss(self.n_channels_, config_loss(config)) if packed else None
        return Trainer(config, callbacks).fit(self._engine_model(module), windows, validation_windows, loss=loss)

    def _job_settings(self, config: TrainingConfig) -> dict[str, str]:
        """The settings a resumed fit must share with the checkpoint's: class, parameters, training config."""
        def plain(value: object) -> str:
            return json.dumps(value, sort_keys=True, default=repr)

        settings = {"estimator": f"{type(self).__module__}.{type(self).__qualname__}"}
        params = self.get_params(deep=False)
        settings.update((f"model.{name}", plain(value)) for name, value in params.items() if name != "training")
        fields = dataclasses.asdict(config)
        settings.update((f"training.{name}", plain(value)) for name, value in fields.items() if name not in RESULT_NEUTRAL)
        return settings

    def check_params(self) -> None:
        """The parameters, the training settings and the module's own checks (``hidden_size``, ...).

        The module is built for a stand-in series of one channel (the sizes fit learns from
        the data) and dropped; building it draws initial weights, so the global RNG is left
        as it was.
        """
        self._check_parameters()
        self.training_config()
        stand_in = copy.copy(self)
        stand_in.n_channels_, stand_in.n_series_, stand_in.covariate_spec_ = 1, 1, None
        with torch.random.fork_rng(devices=[]):
            stand_in._build_module()

    def _check_parameters(self) -> None:
        check_positive_int(self.input_length, "input_length")
        check_positive_int(self.horizon, "horizon")
        if not 0 <= self.validation_fraction < 1:
            raise ConfigError(f"The 'validation_fraction' parameter must be in [0, 1). Got {self.validation_fraction!r} instead.")
        check_covariates(self.covariates)
        if target_transforms.check_target_transform(self.target_transform) and (
            self.output_distribution().name == "negative_binomial"
        ):
            raise ConfigError(
                f"target_transform={self.target_transform!r} cannot be combined with loss='negative_binomial', "
                "which models counts on their own scale; use one or the other."
            )

    def _validation_rows(self, series, layout, n_series: int, covariates) -> list[np.ndarray]:
        if len(series) != n_series:
            raise DataError(f"validation has {len(series)} series; the training data has {n_series}.")
        if layout.n_channels != self.n_channels_:
            raise DataError(f"validation has {layout.n_channels} channels; the training data has {self.n_channels_}.")
        return self._packed(series, layout, covariates)

    def _split_validation(self, series: list[np.ndarray], validation: list[np.ndarray] | None):
        window = self.input_length + self.horizon
        if validation is not None:
            return series, validation
        held_out = [held_out_rows(self.validation_fraction, len(values)) for values in series]
        if self.validation_fraction == 0 or min(held_out) < self.horizon:
            return series, None  # too short to hold anything out: no early-stopping signal
        train = [values[: len(values) - rows] for values, rows in zip(series, held_out)]
        validation = [values[len(values) - rows - self.input_length :] for values, rows in zip(series, held_out)]
        if min(len(values) for values in train) < window:
            return series, None
        return train, validation

    def _scaling_statistics(self, train: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Per series and channel centre and scale of the training rows' values, ``(S, C)`` each."""
        shape = (len(train), self.n_channels_)
        if self.output_distribution().name == "negative_binomial":
            return np.zeros(shape), np.ones(shape)  # counts stay counts: the likelihood is over integers
        if not self.scale:
            return np.zeros(shape), np.ones(shape)
        with warnings.catch_warnings():
            if getattr(self, "constant_values_", None) is not None:  # said once, naming them, by _constant_values
                warnings.filterwarnings("ignore", message=r".*channel\(s\) are constant in the training data")
            scaler = Scaler("standard", per_series=True).fit([values[:, : self.n_channels_] for values in train])
        return scaler.center_, scaler.scale_

    @property
    def _fitted_transform(self) -> str | None:
        """The ``target_transform`` of the last training run, which every forecast maps back through: a later
        ``set_params(target_transform=...)`` changes the next fit, not this one's forecasts (as every other
        parameter). Models saved before it was recorded as ``target_transform_`` read the parameter."""
        return getattr(self, "target_transform_", self.target_transform)

    def _constant_values(self, series: list[np.ndarray], layout: SeriesLayout) -> np.ndarray | None:
        """``(S, C)``: the value of each channel that holds one value over all its series' rows, NaN elsewhere; None
        when none does. Such a channel is forecast as that value (:meth:`_hold_constant`), with a UserWarning naming it:
        standardised it is all zeros, and a network, least of all a global one trained a few epochs, does not learn
        to return exactly the one value it never saw vary (a constant or all-zero series came back as noise)."""
        values = np.full((len(series), self.n_channels_), np.nan)
        for position, rows in enumerate(series):
            observed = rows[:, : self.n_channels_]
            with np.errstate(invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing channel: not constant, NaN
                low, high = np.nanmin(observed, axis=0), np.nanmax(observed, axis=0)
            values[position] = np.where(low == high, low, np.nan)
        held = np.argwhere(~np.isnan(values))
        if not len(held):
            return None
        ids, columns = layout.series_ids, layout.columns
        named = listed([(f"{columns[c]!r}" if ids is None else f"series {ids[s]!r} / {columns[c]!r}")
                        + f" ({values[s, c]:g})" for s, c in held], 5)  # fmt: skip
        warnings.warn(
            f"{len(held)} channel(s) hold one value over all their rows: {named}. The network cannot learn a series "
            "that never varies; each is forecast as its value, with no spread (as naive and AR forecast it).",
            UserWarning, stacklevel=4,
        )  # fmt: skip
        return values

    def _hold_constant(self, arrays: list[np.ndarray], channel_axis: int = -1) -> list[np.ndarray]:
        """Forecasts, quantiles or paths per series with each constant channel (:meth:`_constant_values`) set to its
        value; ``channel_axis`` of each array holds the channels. Models fitted before this existed hold none."""
        constant = getattr(self, "constant_values_", None)
        if constant is None:
            return arrays
        held = []
        for values, array in zip(constant, arrays):
            array = np.array(array, dtype=np.float64)  # a copy
            channels = ~np.isnan(values)
            np.moveaxis(array, channel_axis, -1)[..., channels] = values[channels]
            held.append(array)
        return held

    def _transformed(self, rows: list[np.ndarray], what: str, layout: SeriesLayout) -> list[np.ndarray]:
        """``(T_i, C + ...)`` rows with the fitted target transform applied to their ``C`` value columns (a DataError
        names the series, by its id in ``layout``, and the row of a value outside the transform's domain)."""
        if self._fitted_transform is None:
            return rows
        channels, ids = self.n_channels_, layout.series_ids
        return [
            np.concatenate([
                target_transforms.forward(
                    self._fitted_transform, values[:, :channels], what if ids is None else f"{what} (series {ids[i]!r})"
                ),
                values[:, channels:],
            ], axis=1)
            for i, values in enumerate(rows)
        ]

    def _untransformed(self, forecasts):
        """Forecasts on the training scale (an array, or a list of arrays) -> the data's: ``g^-1`` of ``target_transform``."""
        if self._fitted_transform is None:
            return forecasts
        if isinstance(forecasts, list):
            return [target_transforms.inverse(self._fitted_transform, values) for values in forecasts]
        return target_transforms.inverse(self._fitted_transform, forecasts)

    @staticmethod
    def _scaled(rows: np.ndarray, center: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """Standardise the ``C`` value columns of ``(T, C + K)`` rows; the codes stay as they are."""
        channels = len(center)
        return np.concatenate([(rows[:, :channels] - center) / scale, rows[:, channels:]], axis=1)

    def _last_window(self, rows: np.ndarray) -> np.ndarray:
        """The last ``input_length`` rows; a shorter series is padded with unobserved (NaN) rows in front."""
        window = rows[max(0, len(rows) - self.input_length) :]
        missing = self.input_length - len(window)
        return np.pad(window, ((missing, 0), (0, 0)), constant_values=np.nan) if missing else window

    def _windows(self, series: list[np.ndarray], what: str):
        if all(len(values) < self.input_length + self.horizon for values in series):
            raise DataError(
                f"The {what} series are too short for input_length={self.input_length} + horizon={self.horizon}: "
                f"a window needs {self.input_length + self.horizon} rows; the longest has {max(map(len, series))}."
            )
        return make_multi_series_windows(series, self.input_length, self.horizon)

    # ------------------------------------------------------------------ covariates
    def _covariate_names(self) -> tuple[str, ...]:
        return check_covariates(self.covariates)

    def _engine_model(self, module: torch.nn.Module) -> torch.nn.Module:
        """What the engine calls with inputs ``(B, L, C + X + K)``: the module, given its codes and covariates apart."""
        if self._covariate_names() or self._exogenous_width():
            return PackedCodes(module, self.n_channels_, self._exogenous_width())
        return module

    def _exogenous_sizes(self):
        """The sizes of the user's covariates for the module (:class:`~tsseq.nn.exogenous.ExogenousSizes`), or None."""
        return exogenous_sizes(getattr(self, "covariate_spec_", None))

    def _exogenous_width(self) -> int:
        """``X``, the columns of the user's covariates in each packed row."""
        sizes = self._exogenous_sizes()
        return 0 if sizes is None else sizes.width(self.input_length, self.horizon)

    def _packed(self, series: list[np.ndarray], layout: SeriesLayout, covariates) -> list[np.ndarray]:
        """``(T_i, C)`` values -> ``(T_i, C + X + K)``: the user's covariates, then the codes (:mod:`tsseq.estimators.covariates`)."""
        if covariates is not None:
            statistics = (self.covariate_center_, self.covariate_scale_)
            series = [
                np.concatenate(
                    [values, exogenous_rows(covariates, i, len(values), statistics, self.input_length, self.horizon)],
                    axis=1,
                )
                for i, values in enumerate(series)
            ]
        return self._with_codes(series, layout)

    def _with_codes(self, series: list[np.ndarray], layout: SeriesLayout) -> list[np.ndarray]:
        """``(T_i, C + X)`` rows -> ``(T_i, C + X + K)``: the covariate codes of each row appended as floats."""
        names = self._covariate_names()
        if not names:
            return series
        series_codes = self._series_codes(layout) if "series" in names else np.zeros(len(series), dtype=np.int64)
        rows = []
        for position, values in enumerate(series):
            # check_series made every series regular: its timestamps end at the last one, every freq.
            index = pd.date_range(end=layout.last_timestamps[position], periods=len(values), freq=layout.freq)
            rows.append(np.concatenate([values, row_codes(names, index, series_codes[position])], axis=1))
        return rows

    def _series_codes(self, layout: SeriesLayout) -> np.ndarray:
        """``(S,)`` the ``"series"`` code of each series of ``layout``: its position among those of :meth:`fit`."""
        if self.series_ids_ is None or layout.series_ids is None:
            if self.series_ids_ is None and layout.series_ids is None:
                return np.zeros(1, dtype=np.int64)
            wide = self.series_ids_ is None
            fitted = "one series (a wide frame)" if wide else f"{self.n_series_} series (a long frame)"
            raise DataError(
                f"The 'series' covariate codes the series the model was fitted on: {fitted}. Pass the data in the "
                "same layout, with series ids among the fitted ones, so that their codes are reused."
            )
        codes = {series_id: code for code, series_id in enumerate(self.series_ids_)}
        unknown = [series_id for series_id in layout.series_ids if series_id not in codes]
        if unknown:
            raise DataError(
                f"The 'series' covariate only knows the {self.n_series_} series the model was fitted on; "
                f"{unknown[:5]} are not among them (e.g. {self.series_ids_[:3]}). Use series of the fit, whose codes "
                "are reused, or a model without the 'series' covariate."
            )
        return np.array([codes[series_id] for series_id in layout.series_ids], dtype=np.int64)

    # ------------------------------------------------------------------ forecasting
    def predict_windows(
        self,
        inputs: np.ndarray,
        horizon: int,
        *,
        quantiles: object = None,
        window_starts: object = None,
        series: object = None,
        covariates: WindowCovariates | None = None,
    ) -> np.ndarray:
        """Forecast ``horizon`` steps after each of ``N`` input windows ``(N, L, C)``.

        ``quantiles`` and ``covariates`` (the user's, of each window) as in
        :meth:`tsseq.base.Forecaster.predict_windows`.
        ``window_starts``, the timestamp of each window's first row ``(N,)``, gives the
        covariate codes of a model with covariates (required then); other models ignore it.
        ``series``, the id of the fitted series each window belongs to ``(N,)``: a model
        fitted on many series (a long frame) needs it, and standardises each window with
        its series' statistics (and codes it as that series for the ``"series"``
        covariate), as :meth:`predict` does; a model fitted on one series ignores it.

        The network reads ``input_length`` steps, as :meth:`predict` reads the last
        ``input_length`` rows: longer windows are cut to their last ``input_length`` steps
        (their covariates and ``window_starts`` with them), shorter ones are refused. NaN is
        an unobserved value, read as 0 as in training (``missing='mask'``); an infinite value
        is refused with a MissingValuesError naming its window, step and channel. No windows
        ``(0, L, C)`` give an empty forecast ``(0, horizon, C)`` (``(0, horizon, C, Q)``).
        """
        check_is_fitted(self, "layout_")
        inputs = np.asarray(inputs, dtype=np.float64)
        if inputs.ndim == 3 and inputs.shape[2] == self.n_channels_:  # other shapes: the base class says what it expects
            inputs, window_starts, covariates = self._read_windows(inputs, window_starts, covariates)
            if not len(inputs):  # nothing to run through the network; the arguments are checked all the same
                horizon = check_positive_int(horizon, "horizon")
                self._check_horizon(horizon)
                if quantiles is None:
                    return np.empty((0, horizon, self.n_channels_))
                self.require_levels(quantiles)
                return np.empty((0, horizon, self.n_channels_, len(check_levels(quantiles))))
        self._window_starts, self._window_series = window_starts, series
        try:
            return super().predict_windows(inputs, horizon, quantiles=quantiles, covariates=covariates)
        finally:
            del self._window_starts, self._window_series

    def _read_windows(
        self, inputs: np.ndarray, window_starts: object, covariates: WindowCovariates | None
    ) -> tuple[np.ndarray, object, WindowCovariates | None]:
        """Windows ``(N, L, C)`` -> the last ``input_length`` steps of each, which the network reads, with their
        ``window_starts`` and covariates; a DataError for windows shorter than that, a MissingValuesError for an
        infinite value (NaN is unobserved: masked, as in training)."""
        length = inputs.shape[1]
        if length < self.input_length:
            from tsseq.registry import name_of

            raise DataError(
                f"predict_windows got windows of {length} steps; {name_of(self)} reads the last "
                f"input_length={self.input_length}, so it needs input windows of at least {self.input_length} steps."
            )
        infinite = np.isinf(inputs)
        if infinite.any():
            window, step, channel = np.argwhere(infinite)[0]
            raise MissingValuesError(
                f"predict_windows got the infinite value {inputs[window, step, channel]:g} in window {window}, step "
                f"{step}, channel {channel} ({self.layout_.columns[channel]!r}): a neural model reads NaN as an "
                "unobserved value, but cannot use infinite ones. Replace them with NaN, or fill them first."
            )
        skip = length - self.input_length
        if not skip:
            return inputs, window_starts, covariates
        spec = getattr(self, "covariate_spec_", None)
        if covariates is not None and spec is not None:  # covariates without a spec: the base class refuses them
            covariates = covariates.select(spec, length, self.input_length)
        if window_starts is not None and self._covariate_names():
            try:
                window_starts = pd.DatetimeIndex(window_starts).shift(skip, freq=self.layout_.freq)
            except (TypeError, ValueError):
                pass  # not timestamps: the codes refuse them, saying what they need
        return inputs[:, skip:], window_starts, covariates

    def _window_positions(self, n: int) -> np.ndarray | None:
        """The position among the fitted series (of ``center_``) of each of ``n`` windows; None for a one-series model."""
        if len(self.center_) == 1:
            return None
        series = getattr(self, "_window_series", None)
        ids = list(self.layout_.series_ids)
        if series is None:
            raise DataError(
                f"This model was fitted on {len(ids)} series, each standardised with its own statistics: "
                "predict_windows needs series=, the id of the fitted series each window belongs to (N,)."
            )
        series = list(np.asarray(series, dtype=object).reshape(-1))
        if len(series) != n:
            raise DataError(f"series has {len(series)} ids for {n} windows; give one per window.")
        positions = {series_id: position for position, series_id in enumerate(ids)}
        unknown = [series_id for series_id in series if series_id not in positions]
        if unknown:
            raise DataError(
                f"Series {unknown[0]!r} is not one the model was fitted on (e.g. {ids[:3]}): a model fitted on many "
                "series standardises each with its own statistics, so it can only forecast the series it was fitted on."
            )
        return np.array([positions[series_id] for series_id in series], dtype=np.int64)

    def _window_scaling(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``center`` and ``scale`` ``(N, C)`` of ``n`` windows: those of each window's series."""
        positions = self._window_positions(n)
        if positions is None:
            return tuple(np.repeat(part[:1], n, axis=0) for part in (self.center_, self.scale_))
        return self.center_[positions], self.scale_[positions]

    def _predict_windows(self, inputs: np.ndarray, horizon: int, covariates: WindowCovariates | None = None) -> np.ndarray:
        scaled = self._scaled_windows(inputs, covariates)
        center, scale = self._window_scaling(len(inputs))
        return self._untransformed(self._forecast_scaled(scaled, horizon) * scale[:, None] + center[:, None])

    def _scaled_windows(self, inputs: np.ndarray, covariates: WindowCovariates | None = None) -> np.ndarray:
        """Windows ``(N, L, C)`` of the fitted series -> scaled (each with its series' statistics), with the user's
        covariates (the horizon's future ones in the lead columns, as :meth:`predict` puts them) and their codes
        ``(N, L, C + X + K)``."""
        center, scale = self._window_scaling(len(inputs))
        inputs = target_transforms.forward(self._fitted_transform, inputs, "the input windows")
        scaled = (inputs - center[:, None]) / scale[:, None]
        if covariates is not None:
            length, statistics = inputs.shape[1], (self.covariate_center_, self.covariate_scale_)
            future = None if covariates.future is None else covariates.future[:, :length]  # lead 0: the rows' own
            block = exogenous_block(
                covariates.past, future, covariates.static_numeric, covariates.static_codes, length, statistics,
                self.input_length, self.horizon,
            )
            scaled = np.concatenate([scaled, block], axis=-1)  # (N, L, C + X)
            if covariates.future is not None:
                scaled = with_horizon(
                    scaled, covariates.future[:, length:], self.n_channels_, self._exogenous_sizes(), *statistics, self.horizon
                )
        names = self._covariate_names()
        if names:
            if self._window_starts is None:
                raise DataError(
                    f"This model has covariates {list(names)}: predict_windows needs window_starts, the timestamp "
                    "of each window's first row, to derive their codes."
                )
            series_codes = self._series_codes(self.layout_) if "series" in names else np.zeros(1, dtype=np.int64)
            codes = window_codes(names, self._window_starts, inputs.shape[1], self.layout_.freq, int(series_codes[0]))
            if len(codes) != len(inputs):
                raise DataError(f"window_starts has {len(codes)} timestamps for {len(inputs)} windows.")
            positions = self._window_positions(len(inputs))
            if "series" in names and positions is not None:
                codes[:, :, list(names).index("series")] = series_codes[positions][:, None]  # each window's series
            scaled = np.concatenate([scaled, codes], axis=-1)  # (N, L, C + K)
        return scaled

    def _forecast_scaled(self, inputs: np.ndarray, horizon: int) -> np.ndarray:
        """Scaled inputs with their codes ``(N, L, C + K)`` -> scaled point forecasts ``(N, horizon, C)``."""
        outputs = self._module_outputs(inputs, horizon)
        output = self.output_distribution()
        return outputs.numpy() if output.is_point else output.point(outputs).numpy()

    def _module_outputs(self, inputs: np.ndarray, horizon: int) -> torch.Tensor:
        """The module's outputs for scaled inputs ``(N, L, C + K)``: ``(N, horizon, C)`` or ``(N, horizon, C, P)``, float64."""
        self._check_horizon(horizon)
        inputs = torch.from_numpy(np.nan_to_num(inputs, nan=0.0).astype(np.float32))  # unobserved inputs are 0, as in training
        predictions = Trainer(self.training_config()).predict(self._engine_model(self.module_), inputs)
        return predictions.double()[:, :horizon]

    def _check_horizon(self, horizon: int) -> None:
        if horizon > self.horizon:
            raise ConfigError(
                f"This model was trained to forecast horizon={self.horizon} steps; it cannot forecast {horizon}. "
                "Refit it with a larger horizon."
            )

    def _last_inputs(self, horizon: int, future_covariates: list[np.ndarray] | None) -> np.ndarray:
        """The last window of each series ``(S, L, C + X + K)``, with the horizon's future covariates when fitted with them."""
        if future_covariates is None:
            return self.last_inputs_
        self._check_horizon(horizon)
        future = np.stack(future_covariates)  # (S, h, F)
        statistics = (self.covariate_center_, self.covariate_scale_)
        return with_horizon(self.last_inputs_, future, self.n_channels_, self._exogenous_sizes(), *statistics, self.horizon)

    def _predict(self, horizon: int, future_covariates: list[np.ndarray] | None = None) -> list[np.ndarray]:
        forecasts = self._forecast_scaled(self._last_inputs(horizon, future_covariates), horizon)  # (S, H, C)
        forecasts = [forecast * self.scale_[i] + self.center_[i] for i, forecast in enumerate(forecasts)]
        return self._hold_constant(self._untransformed(forecasts))

    # ------------------------------------------------------------------ probabilistic forecasts
    def _quantiles_of(self, inputs: np.ndarray, horizon: int, levels: np.ndarray, center, scale) -> np.ndarray:
        """Scaled inputs ``(N, L, C + K)`` -> quantiles ``(N, horizon, C, Q)`` on the data's scale.

        ``center`` and ``scale`` ``(N, C)``: the estimator's standardisation of each window.
        """
        output = self.output_distribution()
        params = self._module_outputs(inputs, horizon)  # (N, H, C, P)
        shift = torch.tensor(center)[:, None] if np.any(center) else None  # (N, 1, C)
        data_scale = Affine(shift, torch.tensor(scale)[:, None])
        return output.quantile(output.affine(params, data_scale), levels.tolist()).numpy()

    def _predict_quantiles(
        self, horizon: int, levels: np.ndarray, future_covariates: list[np.ndarray] | None = None
    ) -> list[np.ndarray]:
        inputs = self._last_inputs(horizon, future_covariates)
        quantiles = self._untransformed(list(self._quantiles_of(inputs, horizon, levels, self.center_, self.scale_)))
        return self._hold_constant(quantiles, channel_axis=1)  # (H, C, Q) each

    def _predict_windows_quantiles(
        self, inputs: np.ndarray, horizon: int, levels: np.ndarray, covariates: WindowCovariates | None = None
    ) -> np.ndarray:
        scaled = self._scaled_windows(inputs, covariates)
        center, scale = self._window_scaling(len(inputs))  # (N, C) each
        return self._untransformed(self._quantiles_of(scaled, horizon, levels, center, scale))

    def _sample(
        self, horizon: int, n: int, rng: np.random.Generator, future_covariates: list[np.ndarray] | None = None
    ) -> list[np.ndarray]:
        """``n`` paths per series: drawn ancestrally by autoregressive decoders, per step by direct heads."""
        self._check_horizon(horizon)
        inputs = np.repeat(self._last_inputs(horizon, future_covariates), n, axis=0)  # (S·n, L, C + X + K), series-major
        inputs = torch.from_numpy(np.nan_to_num(inputs, nan=0.0).astype(np.float32))
        model = self._engine_model(self.module_)
        with torch.random.fork_rng(), sampling(model):
            torch.manual_seed(int(rng.integers(2**63 - 1)))
            paths = Trainer(self.training_config()).predict(model, inputs).double().numpy()  # (S·n, H', C)
        paths = paths[:, :horizon].reshape(len(self.last_inputs_), n, horizon, self.n_channels_)
        return self._hold_constant(self._untransformed([paths[i] * self.scale_[i] + self.center_[i] for i in range(len(paths))]))

    def _build_module(self) -> torch.nn.Module:
        raise NotImplementedError


def _check_counts(series: list[np.ndarray], channels: int, columns: Sequence[str]) -> None:
    """The negative binomial likelihood is over counts: every observed value a non-negative integer."""
    for position, values in enumerate(series):
        observed = values[:, :channels]
        bad = np.isfinite(observed) & ((observed < 0) | (observed != np.round(observed)))
        if bad.any():
            row, channel = np.argwhere(bad)[0]
            raise DataError(
                f"loss='negative_binomial' models counts, but column {columns[channel]!r} "
                f"{'' if len(series) == 1 else f'of series {position} '}has the value {float(observed[row, channel]):g} "
                f"at row {row}: expected non-negative integers. Use "
                "loss='normal', 'student_t' or 'quantile' for continuous values."
            )
