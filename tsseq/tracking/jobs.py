"""Tracking a pipeline job (``tsseq run`` with ``tracking: {enabled: true}``): one run per model.

Each model's fit and scoring happen inside :func:`~tsseq.tracking.runs.tracked_run`
in the experiment ``tracking.experiment`` (default: the pipeline's name), named
after the model's label. A run logs, before fitting: the data, evaluation and
model configuration (flattened; the model's resolved constructor arguments and
its full ``TrainingConfig``) and the data set identity; after scoring: the final
metrics as ``test_<metric>`` (with them the probabilistic scores: ``coverage``,
``acd``, ``msis``, ``interval_width`` of ``evaluation.interval``, the ETT protocol's
``crps``, ``coverage_80`` and ``coverage_90``), the epochs of a resumed fit's history that
came before its checkpoint (``step`` = epoch; a neural model's epochs are logged as each
ends, :meth:`ModelRun.fit_options`, so a job stopped during training keeps them), a plot
of the last test window (history, truth, forecast; a fan chart of a probabilistic model,
see :meth:`ModelRun.plot_levels`) and the fitted model as a pyfunc model
(``tracking.log_model``). The tag ``tsseq.input_scale``
says which scale the model's inputs are on (``standard`` for the ETT protocol and
``scale: standard``). Models fitted on many series (M4, long frames) log no pyfunc
model and no plot: they forecast their own series only; nor do models fitted with
covariates, which the pyfunc model (a history in, a forecast out) cannot give them; the
tag ``tsseq.model_not_logged`` says so.

The store is opened (:func:`~tsseq.tracking.store.use_store`) when the tracker is made,
before any model trains, so that a store that cannot be used stops the job at once with
a ConfigError naming ``tracking.tracking_uri`` (or the environment variable it came from).

Under ``torchrun`` (:mod:`tsseq.main_process`) every process of the job makes the
same calls, but only the main process (rank 0) opens the store (its set-up included),
starts, logs to and ends the runs and logs the models: one run and one model per model
of the job. The other processes' :class:`ModelRun` log nothing; each step that touches
the store is a :func:`~tsseq.main_process.shared_outcome` step, so that a store
failure on rank 0 stops the others too, with the same exit code.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tsseq.config import ModelConfig, PipelineConfig, job_path
from tsseq.main_process import on_main_process
from tsseq.quantiles import interval_levels
from tsseq.tracking.identity import DatasetIdentity, catalog_identity, file_identity
from tsseq.tracking.runs import MODEL_TAG, TrackedRun, estimator_params, tracked_run
from tsseq.tracking.store import use_store

FIGURE_HISTORY_HORIZONS = 4  # history drawn before the forecast, in horizons


class ModelRun:
    """What a scorer reports to the run of one model (see :class:`JobTracker`); ``run`` None: logs nothing."""

    def __init__(self, run: TrackedRun | None, job: JobTracker, model: ModelConfig) -> None:
        self.run, self.job, self.model = run, job, model
        self.live = None  # the MlflowCallback logging each epoch of the fit, for a model the engine trains

    def fitting(self, estimator: Any) -> Any:
        """Log the estimator's parameters before it is fitted; returns it."""
        on_main_process(
            lambda: self.run.log_params(estimator_params(estimator, self.model.name)),
            f"tracking: logging the parameters of {self.model.display_name!r}",
        )
        return estimator

    def fit_options(self, estimator: Any, options: dict) -> dict:
        """``options`` for ``estimator.fit`` with a callback that logs each epoch to the run as it ends.

        For the models the engine trains (their ``fit`` takes ``callbacks``): a job stopped
        during training (Ctrl-C, a kill) keeps the epochs it trained in its KILLED run, and
        a resumed fit logs the epochs before its checkpoint once it is scored.
        """
        if self.run is None or "callbacks" not in inspect.signature(estimator.fit).parameters:
            return options
        self.live = self.run.callback()
        return {**options, "callbacks": [*options.get("callbacks", ()), self.live]}

    def scored(
        self, estimator: Any, metrics: dict, *, history: pd.DataFrame | None = None, truth: pd.DataFrame | None = None
    ) -> None:
        """Log the metrics, training history, last-window plot and model of a fitted, scored estimator.

        ``history``: the rows (model scale) right before ``truth``, the ``horizon`` rows of
        the last test window; both None for the published protocols, whose data this derives.
        """
        on_main_process(
            lambda: self._log_scored(estimator, metrics, history, truth),
            f"tracking: logging the scores and model of {self.model.display_name!r}",
        )

    def _log_scored(self, estimator: Any, metrics: dict, history: pd.DataFrame | None, truth: pd.DataFrame | None) -> None:
        self.run.log_metrics(metrics, prefix="test_")
        from tsseq.engine.history import TrainingHistory

        if isinstance(getattr(estimator, "history_", None), TrainingHistory):  # the naive family's is its data
            logged = () if self.live is None else self.live.logged_epochs
            self.run.log_history(estimator.history_, skip_epochs=logged)
        if history is None:
            history, truth = self.job.protocol_window()
        if history is None or isinstance(history.index, pd.MultiIndex):
            self.run.set_tags({"tsseq.model_not_logged": "fitted on many series: it forecasts only its own (tsseq.load_model)"})
            return
        spec = getattr(estimator, "covariate_spec_", None)
        if spec is not None and spec.kinds:  # the logged model and its plot take a history, not the covariates it needs
            self.run.set_tags({"tsseq.model_not_logged": f"fitted with {' and '.join(spec.kinds)} covariates, which the "
                               "MLflow model cannot take: save it with tsseq.persistence.save and forecast with them"})
            return
        self._log_window_plot(estimator, history, truth)
        if self.job.config.tracking.log_model:
            self.run.log_model(estimator, history, horizon=self.job.config.evaluation.horizon)

    def plot_levels(self, estimator: Any) -> list[float] | None:
        """The quantile levels of the window plot's fan: ``output.quantiles``, else the levels the job scores.

        Those are the interval of ``evaluation.interval``, or the ETT protocol's 80% and 90%
        intervals; None (a point forecast) for a point-only model or a job that asks for none.
        """
        if not getattr(estimator, "probabilistic", False):
            return None
        config = self.job.config
        if config.output.quantiles is not None:
            return list(config.output.quantiles)
        if config.evaluation.interval is not None:
            return np.round(interval_levels(config.evaluation.interval), 12).tolist()  # 0.05, not 0.04999999999999999
        if config.evaluation.protocol == "ett":
            return [0.05, 0.1, 0.9, 0.95]
        return None

    def _log_window_plot(self, estimator: Any, history: pd.DataFrame, truth: pd.DataFrame) -> None:
        from tsseq.plotting import forecast_figure
        from tsseq.tracking.plots import pyplot
        from tsseq.tracking.pyfunc import TIMESTAMP, WINDOW, forecast_from_history, input_example

        example = input_example(estimator, history)
        forecast = forecast_from_history(estimator, example, len(truth), quantiles=self.plot_levels(estimator))
        forecast = forecast.drop(columns=[WINDOW, TIMESTAMP]).set_axis(truth.index)
        shown = history.iloc[-FIGURE_HISTORY_HORIZONS * len(truth) :]
        title = f"{self.job.config.name}: {self.model.display_name}, last test window"
        figure = forecast_figure(shown, forecast, actuals=truth, title=title, history_rows=len(shown))
        try:
            self.run.log_figure(figure, "plots/forecast_vs_truth.png")
        finally:
            pyplot().close(figure)


class JobTracker:
    """Opens the tracked run of each model of a pipeline job (on the main process only, see the module docstring)."""

    def __init__(self, config: PipelineConfig, base_dir: Path = Path(".")) -> None:
        self.config = config
        # Before any training: a store that cannot be used (a server that does not answer, a
        # folder given as a URI) is bad input, found now and named by its setting.
        on_main_process(
            lambda: use_store(config.tracking.tracking_uri, setting="tracking.tracking_uri"),
            "tracking: opening the tracking store",
        )
        data = config.data
        source = None if data.dataset is not None else job_path(data.csv, base_dir)
        self.identity: DatasetIdentity | None = on_main_process(  # None on the other processes
            lambda: catalog_identity(data.dataset) if source is None else file_identity(source),
            "tracking: identifying the data set",
        )

    @contextmanager
    def model_run(self, model: ModelConfig) -> Iterator[ModelRun]:
        """The run of one model's fit and scoring: FINISHED when the block completes, else FAILED or KILLED."""
        with ExitStack() as stack:
            name = model.display_name
            run = on_main_process(lambda: stack.enter_context(self._run(model)), f"tracking: starting the run of {name!r}")
            yield ModelRun(run, self, model)
            on_main_process(stack.close, f"tracking: ending the run of {name!r}")

    @contextmanager
    def _run(self, model: ModelConfig) -> Iterator[TrackedRun]:
        config, evaluation = self.config, self.config.evaluation
        standard = evaluation.protocol == "ett" or (evaluation.protocol == "windows" and evaluation.scale == "standard")
        tags = {
            MODEL_TAG: model.display_name,
            "tsseq.pipeline": config.name,
            "tsseq.protocol": evaluation.protocol,
            "tsseq.input_scale": "standard" if standard else "data",
        }
        with tracked_run(
            experiment=config.tracking.experiment or config.name,
            run_name=model.display_name,
            tags=tags,
            tracking_uri=config.tracking.tracking_uri,
        ) as run:
            run.log_config(config.data, "data")
            run.log_config(evaluation, "evaluation")
            if model.label:
                run.log_params({"model.label": model.label})
            run.log_dataset(self.identity)
            yield run

    def protocol_window(self) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
        """The last test window of the ETT protocol on its standardised scale, as the model saw it; else (None, None)."""
        evaluation = self.config.evaluation
        if evaluation.protocol != "ett":
            return None, None
        from tsseq.data.catalog import load
        from tsseq.data.scaling import Scaler
        from tsseq.data.splits import split_preset
        from tsseq.protocols import ETT_TARGET

        frame = load(self.config.data.dataset).frame
        if evaluation.setting == "S":
            frame = frame[[ETT_TARGET]]
        split = split_preset(frame, self.identity.name, input_length=evaluation.input_length)
        test = Scaler("standard").fit(split.train).transform(split.test)
        return test.iloc[: -evaluation.horizon], test.iloc[-evaluation.horizon :]


