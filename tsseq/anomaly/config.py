"""The anomaly-scoring job: frozen dataclasses mirrored one-to-one by a YAML file.

A job file (``tsseq detect --config job.yaml``, e.g. ``pipelines/detect_elnino.yaml``)::

    name: elnino-ar
    data: {dataset: elnino}              # tsseq.config.DataConfig: a catalog name or a CSV
    detector: {name: ar_residual, params: {scorer: squared}}
    window: 24
    threshold: false_alarm                # a 1% false-alarm rate of the training rows' scores (default: adaptive)
    threshold_params: {rate: 0.01}
    mode: causal                          # causal (streamed) | batch (offline)
    train_fraction: 0.3
    timestamps: auto                      # auto | grid | rows (irregular logs), or resample: 10s
    detrend: null                         # linear | difference: for a series whose level trends
    event_gap: null                       # null: the threshold's smoothing window less one (8 by default)
    output: {directory: outputs, csv: elnino_scores.csv, plot: elnino_scores.png, events: elnino_events.csv}

Many series (``data: {csv: sensors.parquet, series_column: id}``) are each scored on their
own (:mod:`tsseq.anomaly.many`), ``batch_series`` at a time; ``engine: dask`` runs the
batches on a Dask cluster (``scheduler: tcp://HOST:PORT``, else a local one of
``workers`` processes), as ``--engine``, ``--scheduler``, ``--workers`` do.

:func:`load_detection_job` reads it with ``yaml.safe_load`` and validates it with
:func:`tsseq.config.from_mapping` (unknown keys are named, with the closest valid one). The options
of ``tsseq detect`` given beside ``--config`` set their keys over the file's (``--mode batch``:
``mode``; ``--sep``: ``data.sep``; ``--output``: the scores file), named on stderr
(:mod:`tsseq.anomaly.cli`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tsseq.config import DataConfig, check_engine, load_job
from tsseq.errors import ConfigError, closest_match, located

TIMESTAMP_POLICIES = ("auto", "grid", "rows")
DETRENDS = ("linear", "difference")


@dataclass(frozen=True)
class DetectorConfig:
    """A detector of :data:`tsseq.anomaly.detectors.DETECTORS` and its constructor arguments."""

    name: str = "auto"  # tsseq.anomaly.auto: reconstruction, forecast residual and interval, combined
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DetectionOutputConfig:
    """Files the job writes inside ``directory`` (relative to the working directory)."""

    directory: str = "outputs"
    csv: str = "scores.csv"  # timestamp, value column(s), score, is_anomaly
    plot: str | None = None  # PNG: series, score, threshold, labelled windows, events
    events: str | None = None  # CSV: one row per event (tsseq.anomaly.events.find_events)


@dataclass(frozen=True)
class DetectionConfig:
    """A whole anomaly-scoring job.

    ``mode``: ``"causal"`` trains on the first rows (``train_rows``, else
    ``train_fraction`` of them, at least the rows that hold out 10 validation rows for a
    detector that holds some out: :func:`tsseq.anomaly.job.detect_frame` says when it
    raises them) and replays the rest as a stream
    (:func:`tsseq.anomaly.streaming.score_stream`, refitting every ``refit_every`` rows
    if given, on every row seen or on the last ``refit_window`` of them): the score of ``t``
    uses rows up to ``t``, training rows get no score. A long log whose normal behaviour
    moves on (a new load pattern, a replaced sensor) is flagged throughout by a detector that
    only knows its first rows; refitting on a sliding window lets it learn the new normal
    (NAB, ``pipelines/benchmarks/nab_auto_refit.yaml``), and over a long fault it learns the
    fault too (``threshold_study.md``, after the eighteenth study): an option, not a default.
    ``"batch"`` trains on the same rows and scores every row offline (``causal=False``;
    aggregation ``"mean"`` unless the detector's params say otherwise). ``window`` and
    ``threshold``/``threshold_params`` fill the detector's ``window_length`` (None:
    the detector's default, 48 for the windowed ones, shortened on a short series to half the
    rows it trains on after its validation rows; ``online_residual`` and ``online_interval``
    have no window), ``threshold`` and ``threshold_params``;
    ``threshold: default`` means, for ``auto`` and the windowed detectors, a threshold
    adapted to the scored rows (``pipelines/benchmarks/threshold_study.py``, rules fixed
    before each confirmation run): in ``"causal"`` mode ``"adaptive"``
    (:class:`~tsseq.anomaly.thresholds.AdaptiveThresholder`: the scores smoothed by a causal
    moving mean of 9 rows, the 1% false-alarm floor of the smoothed training scores, lowered
    to Otsu's split of the scored rows seen so far when they hold a separate group of high
    scores, recomputed every 10 rows; a row is flagged when its smoothed score passes that
    threshold and its own score the 0.9 quantile of the training scores, ``gate``, and an
    event shorter than 9 rows only if one of its rows passes the 0.98 quantile,
    ``brief_gate``), in
    ``"batch"`` mode ``"transductive"``
    (:class:`~tsseq.anomaly.thresholds.TransductiveThresholder`: the same with a centred
    moving mean and the split of all the scored rows, also raised to a split above the floor
    when the rows between hold at most twice the training scores' share there,
    ``raise_excess``; not causal, so never in ``"causal"`` mode); unless ``threshold_params``
    name a parameter the method lacks, then the detector's own ``"false_alarm"`` (the 1% floor alone,
    :class:`~tsseq.anomaly.thresholds.FalseAlarmThresholder`). ``online_residual`` and
    ``online_interval`` keep ``"alarm_level"``, their calibrated fixed levels.
    None (``none``) scores without flags. ``labels``: an optional CSV of labelled
    anomaly windows (columns ``start``, ``end``) drawn on the plot. ``event_gap``: flagged
    rows at most this many unflagged rows apart form one event; None (the default): the
    threshold's smoothing window less one (:func:`tsseq.anomaly.events.smoothing_gap`; 8
    under the default thresholds, 0 under one that does not smooth).

    ``detrend`` (default None): what the detector scores instead of the levels, for a series
    whose level trends (sales, a growing load), where every detector fitted on the training
    rows' levels flags the later ones, which it never saw (the default flags 33-47% of a
    clean trending series' rows, ``pipelines/benchmarks/short_series_false_alarms.py --kinds
    trend``). The output keeps the values as read.

    * ``"linear"``: each channel minus its least-squares line over the training rows,
      extrapolated over the rest (causal: fitted on the training rows alone, once, also
      where ``refit_every`` refits the detector). A level shift stays a shifted level; a
      trend whose slope changes is not removed.
    * ``"difference"``: each channel's first differences, ``x[t] - x[t-1]``; the first row
      gets no score. Removes any drift, but a level shift scores as one jump, not as the
      rows at the new level.

    Timestamps (the spacing of the rows):

    * ``"auto"`` (default): a regular series is detected on its grid, as forecasting
      reads it; a log whose steps vary (e.g. stamped every 1 to 2 s with jitter) is
      detected on its row sequence, as ``"rows"``, with a note on stderr giving the
      smallest, median and largest step (a long gap shows there);
    * ``"grid"``: steps must equal the frequency; irregular spacing is refused, as for
      forecasting;
    * ``"rows"``: the detector sees the rows in order, one step each, whatever their
      timestamps (it is given a regular surrogate index with the median step, so that a
      ``seasonal_period`` such as ``"1D"`` means about a day of rows); the output
      carries the original timestamps unchanged. ``missing: interpolate`` is linear in
      row position;
    * timestamps that are numbers (a row counter; Unix times without ``data.timestamp_unit``),
      or no timestamp column at all (a file of bare numbers, ``data.header: false``): the
      rows are read in order and scored as ``"rows"``, and the output carries the numbers,
      or the rows' numbers from 0 in a column ``row``, unchanged;
    * ``resample`` (a pandas frequency, e.g. ``"10s"``): the rows are put on that grid
      first, each bin the mean of the rows whose timestamps fall in
      ``[bin, bin + freq)`` (bins labelled by their left edge); empty bins are missing
      values and go through ``data.missing`` (``error`` refuses them, ``interpolate``
      fills them linearly in time, ``ffill``, ``mask``). The output has one row per bin.
    """

    name: str
    data: DataConfig
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    window: int | None = None
    threshold: str | None = "default"
    threshold_params: dict[str, Any] = field(default_factory=dict)
    mode: Literal["causal", "batch"] = "causal"
    train_rows: int | None = None
    train_fraction: float = 0.3
    refit_every: int | None = None
    refit_window: int | None = None  # with refit_every: each refit on the last this many rows (None: all seen)
    labels: str | None = None
    timestamps: Literal["auto", "grid", "rows"] = "auto"
    resample: str | None = None
    detrend: Literal["linear", "difference"] | None = None
    event_gap: int | None = None
    output: DetectionOutputConfig = field(default_factory=DetectionOutputConfig)
    batch_series: int | None = None  # many series: scored this many at a time (default 1,000)
    engine: Literal["local", "dask"] = "local"  # dask: each batch of series a task on a Dask cluster
    scheduler: str | None = None  # engine dask: the scheduler's address; None: a local cluster
    workers: int | None = None  # engine dask, local cluster: worker processes (default: the usable CPUs)

    def __post_init__(self) -> None:
        if not 0 < self.train_fraction < 1:
            raise ConfigError(f"train_fraction must be in (0, 1). Got {self.train_fraction!r}.")
        if (self.window is not None and self.window < 1) or (self.train_rows is not None and self.train_rows < 1):
            raise ConfigError(
                f"window and train_rows must be >= 1. Got window={self.window}, train_rows={self.train_rows}."
            )
        if self.refit_every is not None and (self.refit_every < 1 or self.mode != "causal"):
            raise ConfigError(
                f"refit_every must be >= 1 and needs mode 'causal'. Got {self.refit_every!r} with mode {self.mode!r}."
            )
        if self.refit_window is not None and (self.refit_window < 1 or self.refit_every is None):
            raise ConfigError(
                f"refit_window must be >= 1 and needs refit_every (the rows each refit reads). Got "
                f"refit_window={self.refit_window!r} with refit_every={self.refit_every!r}."
            )
        if self.timestamps not in TIMESTAMP_POLICIES:
            raise ConfigError(
                f"timestamps must be one of {', '.join(TIMESTAMP_POLICIES)}. Got {self.timestamps!r}."
                + closest_match(str(self.timestamps), TIMESTAMP_POLICIES)
            )
        if self.resample is not None and self.timestamps == "rows":
            raise ConfigError("resample puts the rows on a grid; it cannot be combined with timestamps: rows.")
        if self.detrend is not None and self.detrend not in DETRENDS:
            raise ConfigError(
                f"detrend must be one of {', '.join(DETRENDS)} (or null). Got {self.detrend!r}."
                + closest_match(str(self.detrend), DETRENDS)
            )
        if self.event_gap is not None and (
            isinstance(self.event_gap, bool) or not isinstance(self.event_gap, int) or self.event_gap < 0
        ):
            raise ConfigError(
                f"event_gap must be an int >= 0 (unflagged rows bridged), or null for the threshold's smoothing "
                f"window less one. Got {self.event_gap!r}."
            )
        check_engine(self.engine, self.scheduler, self.workers)
        if self.batch_series is not None and self.batch_series < 1:
            raise ConfigError(f"batch_series must be >= 1 (series scored at a time). Got {self.batch_series!r}.")
        if (self.engine == "dask" or self.batch_series is not None) and self.data.series_column is None:
            raise ConfigError(
                "engine dask and batch_series work on many series; name their id column (data.series_column, --series-column)."
            )

    def training_rows(self, n_rows: int) -> int:
        """Rows the detector is trained on, of a series of ``n_rows``."""
        return self.train_rows if self.train_rows is not None else max(1, int(self.train_fraction * n_rows))


def load_detection_job(path: str | Path) -> tuple[DetectionConfig, Path]:
    """Read a job file -> (config, the folder its relative paths resolve against).

    The detector's name and parameters are checked here too, so that an unknown one is named
    with the file and its key (``job.yaml: detector: Detector 'ar_residual' has no parameter
    'scorr'...``), as the file's own keys are, before any data is read.
    """
    from tsseq.anomaly.job import check_detector  # not at module level: this module stays plain dataclasses

    config, base_dir = load_job(path, DetectionConfig, "Detection job file")
    try:
        check_detector(config, "detector")
    except ConfigError as error:
        raise located(error, Path(path).name) from None
    return config, base_dir
