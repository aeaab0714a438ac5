"""A detection job: a :class:`~tsseq.anomaly.config.DetectionConfig` run to a table of scores and flags.

What ``tsseq detect`` does between reading its arguments and writing files: load the
data (on its grid, on its row sequence when irregularly stamped, or resampled: the
``timestamps`` and ``resample`` policies of :class:`~tsseq.anomaly.config.DetectionConfig`),
build the detector by name, train it on the first rows and score the rest, in causal
(streaming) or batch mode, with each score's per-channel contributions (columns
``contribution_<channel>``, for every detector that gives them), and merge the flagged
rows into events whose ``channels`` come from those contributions
(:func:`tsseq.anomaly.events.find_events`). The scores are checked before they are
returned (:func:`tsseq.sanity.check_scores`: finite after the first scored row). Values that
``missing: interpolate`` or ``ffill`` filled (a resampled empty bin's too) are written as
measured ones are, so their rows are marked: column ``filled`` (:data:`FILLED_COLUMN`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tsseq.errors import DataError, listed

_FILLED_BY_JOB = ("window_length", "threshold", "threshold_params", "causal")
RESULT_COLUMNS = ("score", "smoothed_score", "threshold", "is_anomaly")  # what a job adds to the values (and contributions)
# True on the rows where the missing policy filled a value of some channel: the output's values there are made up,
# not measured, and an operator must be able to tell. Written after the values, only when the policy filled a row
# (one series; many series: whenever the policy fills, so that every batch has the same columns).
FILLED_COLUMN = "filled"
FILLING = ("interpolate", "ffill")  # the missing policies that fill


class ShortSeriesError(DataError):
    """A series with fewer rows than the job needs: at least ``needed``, for the reason ``why`` (in words). A job of
    many series (:mod:`tsseq.anomaly.many`) writes such a series unscored instead of failing."""

    def __init__(self, message: str, needed: int, why: str) -> None:
        super().__init__(message)
        self.needed, self.why = needed, why


@dataclass(frozen=True)
class DetectionResult:
    """A job's output table (index ``timestamp``; values, ``score``, ``smoothed_score`` (a smoothing threshold's),
    ``threshold``, ``is_anomaly``, ``contribution_<channel>``; ``filled`` after the values when the missing policy
    filled some) and its mode."""

    table: object  # pandas DataFrame
    causal: bool
    threshold: float | None  # the fitted threshold (causal mode: at the start of the stream)
    plot_data: object  # DataFrame the plot draws: score, is_anomaly, threshold (per point, causal mode)
    events: object = None  # DataFrame of find_events, None without flags
    spacing: str = "grid"  # how the rows were read: "grid", "rows (...)" or "resampled to FREQ"
    notes: tuple[str, ...] = ()  # what the detector says it did (auto's report; no contributions), for stderr
    train_rows: int = 0  # the first rows, which the detector trained on: not scored against labels


def run_detection(config, base_dir: Path = Path(".")) -> DetectionResult:
    """Run a :class:`~tsseq.anomaly.config.DetectionConfig` of one series (no files written)."""
    import pandas as pd

    from tsseq.errors import DataError

    check_detector(config)  # the detector's parameters first (training=5 names the parameter), then the data
    frame, filled = _load_frame(config, base_dir)
    source = config.data.csv or config.data.dataset
    if isinstance(frame.index, pd.MultiIndex):
        raise DataError(
            f"{source}: this data holds many series; name their id column (--series-column, data.series_column) "
            "to score each of them."
        )
    # a complete series' output stays as it was without the policy: no column of False
    return detect_frame(config, frame, source, filled if filled is not None and filled.any() else None)


def kept_missing(missing: str) -> str:
    """The policy to read the data with for the job's ``missing``: a policy that fills is applied after reading
    (:func:`filled_in`), so the read keeps the values missing (``"mask"``) and the filled rows can be marked."""
    return "error" if missing == "error" else "mask"


def filled_in(frame, missing: str, source: str):
    """-> (``frame``, read with :func:`kept_missing`, filled by ``missing`` as :func:`~tsseq.data.checks.check_series`
    fills, with its messages naming ``source``; bool per row, True where a value of some channel was filled, or None
    when ``missing`` fills nothing)."""
    from tsseq.data.checks import fill_missing

    if missing not in FILLING:
        return frame, None
    filled = frame.isna().any(axis=1).to_numpy()
    return fill_missing(frame, missing, source), filled


def check_detector(config, where: str = "") -> dict:
    """The job's detector parameters, checked against the detector's signature (a ConfigError naming the one at fault).

    ``where``: the detector's key path in a job file (``"detector"``), which the messages then start with.
    """
    from tsseq.anomaly.detectors import DETECTORS, check_detector_parameters
    from tsseq.config import check_parameters, key_path
    from tsseq.errors import ConfigError, located

    try:
        check_detector_parameters(config.detector.name, config.detector.params)  # unknown ones, with the closest
    except ConfigError as error:
        raise located(error, where) if where else error from None
    owner = f"Detector {config.detector.name!r}"
    params_at = key_path(where, "params") if where else ""
    return check_parameters(DETECTORS[config.detector.name][0], dict(config.detector.params), owner, params_at)


@contextmanager
def _missing_values_named(missing_rows, source: str, detector: str) -> Iterator[None]:
    """A detector's refusal of missing values (kept by ``--missing mask``; ``missing_rows`` bool per row) names the
    file, the rows and the ways out."""
    from tsseq.errors import MissingValuesError

    try:
        yield
    except MissingValuesError as error:
        if not missing_rows.any():
            raise
        ways_out = "" if "--missing interpolate" in str(error) else (  # the detector's own message may say them
            " Use missing='interpolate' or 'ffill' (tsseq detect --missing interpolate or --missing ffill), or a "
            "detector that scores around them (e.g. lstm_ae)."
        )
        raise MissingValuesError(
            f"{source}: detector {detector!r} cannot score data with missing values ({int(missing_rows.sum())} row(s) "
            f"kept as missing by missing='mask'): {error}{ways_out}"
        ) from None


def detect_frame(config, frame, source: str, filled=None) -> DetectionResult:
    """Score one series (a validated wide frame) as ``config`` says: what :func:`run_detection` does once it is read.

    ``filled``: bool per row of ``frame``, the rows whose values the missing policy filled (:func:`filled_in`),
    written as the column ``filled`` after the values; None: no such column.
    """
    import numpy as np

    from tsseq.anomaly.detectors import DETECTORS, contribution_columns, detector_parameters, make_detector
    from tsseq.anomaly.events import detection_events
    from tsseq.anomaly.streaming import score_stream
    from tsseq.anomaly.thresholds import TelemanomThresholder
    from tsseq.errors import ConfigError, DataError
    from tsseq.sanity import check_scores

    accepted = detector_parameters(config.detector.name)
    checked = check_detector(config)
    frame, timestamps, spacing = _row_sequence(frame, config)
    outputs = (*RESULT_COLUMNS, "timestamp", *contribution_columns(frame.columns))
    outputs += (FILLED_COLUMN,) if filled is not None else ()
    clashes = [column for column in frame.columns if column in outputs]
    if clashes:
        kept = [str(column) for column in frame.columns if column not in clashes]
        raise DataError(
            f"{source}: value column(s) {clashes} clash with the output columns; rename them, or score the other "
            f"columns only (data.columns; tsseq detect: --columns {','.join(kept) or 'NAME'})."
        )
    given = [key for key in config.detector.params if key in _FILLED_BY_JOB]
    if given:
        raise ConfigError(
            f"detector.params {given} are set by the job: use 'window', 'threshold', 'threshold_params' and 'mode' "
            "instead."
        )
    params = {**checked, "threshold_params": dict(config.threshold_params)}
    if config.threshold != "default":  # else the detector's own: false_alarm, or the online ones' alarm level
        params["threshold"] = config.threshold
    elif (adapted := adapted_default(config.detector.name, config.mode, config.threshold_params)) is not None:
        params["threshold"] = adapted  # adapted to the scored rows (threshold_study.md's 3rd and 4th studies)
    else:
        _refuse_the_other_modes_params(config.detector.name, config.mode, config.threshold_params)
        _refuse_unknown_params(config.detector.name, config.mode, config.threshold_params)
    if config.window is not None:
        if "window_length" not in accepted:
            raise ConfigError(
                f"Detector {config.detector.name!r} has no window (it reads its own lags, e.g. param 'order'); "
                "drop --window / 'window'."
            )
        params["window_length"] = config.window
    planned = config.training_rows(len(frame))
    if planned >= len(frame):
        trains = f"train_rows={planned}" if config.train_rows is not None else "at least one row"
        raise ShortSeriesError(
            f"{source}: train_rows={planned} leaves none of its {len(frame)} rows to score.",
            planned + 1, f"the job trains on {trains} and scores the rows after them",
        )  # fmt: skip
    detected, lacking = detrended(frame, planned, config.detrend, source)  # lacking: leading rows without a value
    train_rows, params, notes = _fit_to_a_short_series(config, params, len(frame), planned, lacking, source)
    if train_rows != planned:
        detected, lacking = detrended(frame, train_rows, config.detrend, source)  # the line fitted on the rows trained on
    fit_rows = train_rows - lacking
    gives = bool(getattr(DETECTORS[config.detector.name][0], "gives_contributions", False))
    if not gives:
        notes.append(
            f"detector {config.detector.name!r} gives no per-channel contributions (it scores one channel); "
            "the output has none"
        )
    # kept as missing (missing='mask'): no score there
    missing_rows = np.concatenate([np.zeros(lacking, dtype=bool), detected.isna().any(axis=1).to_numpy()])
    with _missing_values_named(missing_rows, source, config.detector.name):
        if config.mode == "causal":
            detector = make_detector(config.detector.name, causal=True, **params)
            stream = score_stream(
                detector, detected, train_rows=fit_rows, refit_every=config.refit_every,
                max_train_rows=config.refit_window, contributions=gives,
            )  # fmt: skip
            scored, fitted = stream.frame, stream.detector
            threshold = None if "threshold" not in scored else float(scored["threshold"].iloc[fit_rows])
        else:
            defaults = {"aggregation": "mean"} if "aggregation" in accepted else {}
            fitted = make_detector(config.detector.name, causal=False, **{**defaults, **params})
            fitted.fit(detected.iloc[:fit_rows])
            # A threshold adapted to the scored period splits the scores after the training rows (the period the
            # study measured, threshold_study.md) and flags every row against it: scored once, split once here.
            adapted = not getattr(getattr(fitted, "thresholder_", None), "causal", True)
            scored = (
                fitted.detect(detected) if fitted.threshold is not None and not adapted else fitted.score(detected).to_frame()
            )
            if gives:
                scored[contribution_columns(frame.columns)] = fitted.contributions(detected).to_numpy()
            threshold = fitted.threshold_
            if adapted:
                applied = copy.deepcopy(fitted.thresholder_)  # predict sets threshold_: the fitted detector stays as fitted
                applied.predict(scored["score"].to_numpy()[fit_rows:])
                threshold = float(applied.threshold_)
                raw = scored["score"].to_numpy()
                scored.insert(1, "is_anomaly", applied.apply(raw))  # every row against the scored rows' split
                if applied.smoothing > 1:
                    scored.insert(1, "smoothed_score", applied.smooth(raw))  # what the threshold applies to
            elif isinstance(fitted.thresholder_, TelemanomThresholder):  # an epsilon per batch, of smoothed errors
                applied = copy.deepcopy(fitted.thresholder_)  # in the state detect's flags started from
                raw = scored["score"].to_numpy()
                scored.insert(1, "smoothed_score", applied.smooth(raw))
                scored["is_anomaly"], scored["threshold"] = applied.run(raw)
    if lacking:  # the rows the detector had no value of: unscored, unflagged
        scored = scored.reindex(frame.index)
        if "is_anomaly" in scored:
            scored["is_anomaly"] = scored["is_anomaly"].eq(True)
    if hasattr(fitted, "report"):
        notes.insert(0, fitted.report())
    scored.attrs.update(causal=config.mode == "causal", threshold=threshold)
    table = frame.copy()
    if filled is not None:
        table[FILLED_COLUMN] = np.asarray(filled, dtype=bool)
    table["score"] = scored["score"].to_numpy()
    if "smoothed_score" in scored:
        table["smoothed_score"] = scored["smoothed_score"].to_numpy()
    if "is_anomaly" in scored:  # the threshold each scored row met (a stream's adapts as rows arrive)
        met = scored["threshold"].to_numpy() if "threshold" in scored else np.full(len(table), threshold)
        table["threshold"] = np.where(np.isnan(table["score"].to_numpy()), np.nan, met)
        table["is_anomaly"] = scored["is_anomaly"].to_numpy(dtype=bool)
    contribution_names = [c for c in contribution_columns(frame.columns) if c in scored]
    for column in contribution_names:
        table[column] = scored[column].to_numpy()
    if timestamps is not None:  # the row sequence was scored: the rows get their own timestamps back
        table.index = scored.index = timestamps
    table.index.name = "timestamp"
    check_scores(table["score"], f"{source}: detector {config.detector.name!r}", missing_rows)
    levels = (frame, train_rows) if config.detrend is None else None  # the levels the detector saw, if it did
    notes += _threshold_notes(table, getattr(fitted, "thresholder_", None), fitted, levels, config.mode == "causal",
                              train_rows)
    events = None
    if "is_anomaly" in table:
        contributions = None
        if contribution_names:  # the events name their channels
            contributions = table[contribution_names].set_axis(list(frame.columns), axis=1)
        # a stretch the smoothed score flags is one event, its ungated rows included (the threshold's gate)
        events = detection_events(
            table, getattr(fitted, "thresholder_", None), gap=config.event_gap, contributions=contributions
        )
    notes += _cycle_notes(frame, timestamps, train_rows, config)
    return DetectionResult(table, config.mode == "causal", threshold, scored, events, spacing, tuple(notes), train_rows)


THRESHOLD_NOTE = "threshold: "  # how every note about the threshold starts
SHORT_SERIES_NOTE = "short series: "  # how every note of _fit_to_a_short_series starts
SHORT_TRAINING_NOTE = "short training: "  # how the note of _cycle_notes starts
# notes about one series' own rows: many.py names the series
PER_SERIES_NOTES = (THRESHOLD_NOTE, SHORT_SERIES_NOTE, SHORT_TRAINING_NOTE)
# A floor that new rows pass this many times as often as the training rows did: said on stderr (_threshold_notes).
FLOOR_EXCESS = 10
# A channel with this share of its later rows outside the training rows' range has a level the detector never saw
# (_level_notes). A stationary channel puts about 2 / (training rows + 1) of them there: under 1% from 200 rows.
LEVEL_OUTSIDE = 0.1


def detrended(frame, train_rows: int, how: str | None, source: str = "data"):
    """-> (what the detector scores, how many leading rows it lacks): ``DetectionConfig.detrend`` applied to ``frame``.

    ``"linear"``: each channel minus its least-squares line over the first ``train_rows`` rows
    (in row positions), extrapolated; ``"difference"``: first differences, the first row dropped.
    From Python, fit a detector on ``detrended(frame, n, how)[0]`` to score as the job does.
    ``source`` names the data in errors.
    """
    import numpy as np

    from tsseq.errors import DataError

    if how is None:
        return frame, 0
    if how == "difference":
        return frame.diff().iloc[1:], 1
    values = frame.to_numpy(dtype=np.float64)
    position = np.arange(len(frame), dtype=np.float64)
    lines = np.empty_like(values)
    for channel, name in enumerate(frame.columns):
        known = ~np.isnan(values[:train_rows, channel])
        if known.sum() < 2:
            raise DataError(
                f"{source}: detrend 'linear' fits a line to the training rows of each channel; channel {name!r} has "
                f"{int(known.sum())} value(s) in its {train_rows} training rows. Train on more rows (train_rows)."
            )
        slope, intercept = np.polyfit(position[:train_rows][known], values[:train_rows, channel][known], 1)
        lines[:, channel] = intercept + slope * position
    return frame - lines, 0


def _level_notes(frame, train_rows: int) -> list[str]:
    """Where ``LEVEL_OUTSIDE`` or more of a channel's later rows lie outside its training rows' range, a note naming
    ``detrend`` (stderr), for the channel with the most."""
    import numpy as np

    values = frame.to_numpy(dtype=np.float64)
    low, high = np.nanmin(values[:train_rows], axis=0), np.nanmax(values[:train_rows], axis=0)
    later = values[train_rows:]
    outside = ((later < low) | (later > high)).mean(axis=0)  # NaN compares False
    channel = int(np.argmax(outside))
    if outside[channel] < LEVEL_OUTSIDE:
        return []
    above = float(np.mean(later[:, channel] > high[channel]))
    return [
        f"{THRESHOLD_NOTE}channel {frame.columns[channel]!r}: {outside[channel]:.0%} of its rows after the training "
        f"ones lie outside the range of its training rows ({low[channel]:.4g} to {high[channel]:.4g}; {above:.0%} above "
        "it): the detector flags levels it never saw. If that is a trend rather than a lasting change, score the "
        "series without it: --detrend difference (any drift; a level shift scores as one jump) or --detrend linear "
        "(a steady trend, over training rows enough to pin its slope; a level shift stays shifted). Clean trending "
        "series of 500 to 2000 rows: 33-47% of the rows flagged as they are, about 1% with differences, 2-8% with the "
        "line (causal; pipelines/benchmarks/short_series_false_alarms.py --kinds trend)"
    ]


def _cycle_notes(frame, timestamps, train_rows: int, config) -> list[str]:
    """Where the training rows span less than one cycle of what the rows' step suggests
    (:func:`~tsseq.data.timegrid.frequency_season`: a day of 1-minute rows; irregular rows: of the median step), a
    note naming the span, the cycle and the options. A detector that never saw a whole cycle flags its other phases
    (the default 0.3 of two days of 1-minute rows trained on 15 hours and flagged a 6-hour stretch after them)."""
    import math

    import pandas as pd

    from tsseq.data.timegrid import frequency_season

    index = frame.index
    if not isinstance(index, pd.DatetimeIndex) or index.freq is None:
        return []
    if timestamps is not None and not isinstance(timestamps, pd.DatetimeIndex):
        return []  # numbers that count rows: no time, no cycle
    season = frequency_season(index.freqstr)
    if season <= 1 or train_rows >= season or len(frame) <= season:
        return []
    times = index if timestamps is None else timestamps
    try:
        step = pd.Timedelta(index.freq)
    except (TypeError, ValueError):  # a calendar step (months, quarters): the cycle in rows only
        cycle, stepped = f"{season} rows", f"{index.freqstr} rows"
    else:
        cycle = f"{_duration(season * step)}, {season} rows"
        stepped = f"rows {'a median' if timestamps is not None else ''} {_duration(step)} apart".replace("  ", " ")
    fraction = math.ceil(100 * season / len(frame)) / 100
    return [
        f"{SHORT_TRAINING_NOTE}the {train_rows} training rows span {_duration(times[train_rows] - times[0])}, less "
        f"than one cycle of {stepped} ({cycle}), so the detector may flag the phases of the cycle it never saw; train "
        f"on a whole cycle (--train-rows {season}, or --train-fraction {fraction:g}) or give more rows before the "
        "period to score"
    ]


def _duration(span) -> str:
    """A Timedelta in its largest whole unit, to one decimal: "15 hours", "1 day", "1.5 minutes"."""
    seconds = span.total_seconds()
    for unit, length in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= length:
            value = round(seconds / length, 1)
            return f"{value:g} {unit}{'' if value == 1 else 's'}"
    return f"{seconds:g} s"


def _threshold_notes(table, thresholder, detector=None, levels=None, causal: bool = False,
                     train_rows: int | None = None) -> list[str]:
    """What the threshold did, for stderr: where an adapted one went under its floor and how many flags that added,
    how many rows over it its gate and its brief gate left unflagged, and, when far more scored rows pass the
    false-alarm floor than its rate says normal rows do, what that can mean (in ``causal`` mode, the refits that
    learn a normal that moved on; for ``auto`` fitted on in-sample scores, the option that fits it on out-of-sample
    ones; where ``levels``, ``(frame, training rows)`` of the levels scored, leave the training rows' range,
    ``detrend``); none for a threshold that states no rate."""
    import numpy as np

    rate = getattr(thresholder, "rate", None)
    floor = getattr(thresholder, "floor_", getattr(thresholder, "threshold_", None))
    if rate is None or floor is None or "threshold" not in table:
        return []
    threshold = table["threshold"].to_numpy()
    scored = np.isfinite(threshold)
    compared = table["smoothed_score" if "smoothed_score" in table else "score"].to_numpy()
    notes = []
    below = threshold < floor  # NaN (unscored rows) compares False; a fixed threshold is never below itself
    if below.any():
        flags = table["is_anomaly"].to_numpy(dtype=bool)
        notes.append(
            f"{THRESHOLD_NOTE}the split of the scored rows' scores lowered it below its floor {floor:.4g} (a "
            f"false-alarm rate of {rate:g} of the training rows' scores) on {int(below.sum())} of "
            f"{_plural(int(scored.sum()), 'scored row')}, from {table.index[np.argmax(below)]}, to "
            f"{np.nanmin(threshold):.4g} at its lowest; {int((flags & (compared <= floor)).sum())} of "
            f"{_of_the(int(flags.sum()), 'flagged row')} {_are(int((flags & (compared <= floor)).sum()))} under the "
            "floor (--threshold false_alarm: a fixed threshold, no split)"
        )
    if getattr(thresholder, "raise_excess", None) is not None and thresholder.lower_only and (threshold > floor).any():
        # the batch split raised it (lower_only: only through raise_excess): one threshold for every scored row
        between = scored & (compared > floor) & (compared <= threshold)
        notes.append(
            f"{THRESHOLD_NOTE}the split of the scored rows' scores raised it above its floor {floor:.4g} to "
            f"{np.nanmax(threshold):.4g}: the scored rows hold a group far above the training rows' scores, and the "
            f"{_plural(int(between.sum()), 'scored row')} between the floor and it {_are(int(between.sum()))} at most "
            f"{thresholder.raise_excess:g} times the training rows' share there, as normal rows would put there, so "
            "they are not flagged (--threshold-param raise_excess=null keeps the floor)"
        )
    gate, brief_gate = getattr(thresholder, "gate", None), getattr(thresholder, "brief_gate", None)
    if gate is not None or brief_gate is not None:
        passed = compared > threshold  # NaN compares False
        held = passed & ~table["is_anomaly"].to_numpy(dtype=bool)
        # rows the gate held: own score not over it (NaN included); the rest were held by the brief gate
        under_gate = np.zeros_like(held)
        if gate is not None:
            under_gate = held & ~(table["score"].to_numpy() > thresholder.gate_)
        if under_gate.any():
            notes.append(
                f"{THRESHOLD_NOTE}{int(under_gate.sum())} of {_of_the(int(passed.sum()), 'row')} whose smoothed score "
                f"passes it {_are(int(under_gate.sum()))} not flagged: "
                f"{'its own score is' if under_gate.sum() == 1 else 'their own scores are'} under its gate "
                f"{thresholder.gate_:.4g}, the {gate:g} quantile of the training rows' scores (such as rows next to an anomaly, which the smoothing and the model's "
                "window carry its score into; an event spans them where they lie between flagged rows; "
                "--threshold-param gate=null flags them too)"
            )
        brief = held & ~under_gate
        if brief.any():
            notes.append(
                f"{THRESHOLD_NOTE}{_plural(int(brief.sum()))} over its gate {_are(int(brief.sum()))} not flagged: "
                f"{'it belongs' if brief.sum() == 1 else 'they belong'} to events shorter than its smoothing window ({thresholder.smoothing} rows) whose own scores stay under "
                f"{thresholder.brief_gate_:.4g}, the {brief_gate:g} quantile of the training rows' scores"
                + (", or to the first rows of a longer one, which a stream cannot yet tell from a short one" if causal
                   else "")
                + " (a few raised rows that the moving mean lifts over the threshold; --threshold-param "
                "brief_gate=null flags them too)"
            )
    share = float(np.mean(compared[scored] > floor)) if scored.any() else 0.0
    if share >= FLOOR_EXCESS * rate:
        notes.append(
            f"{THRESHOLD_NOTE}{share:.1%} of {_of_the(int(scored.sum()), 'scored row')} are above its floor "
            f"{floor:.4g}, which {rate:g} of the training rows' scores exceed ({share / rate:.0f} times as many): either much of "
            "this period is anomalous, or the model scores new normal rows above the rows it was fitted on (a close "
            "fit of few training rows, or many loosely related channels: the default detector flags 1.3% and 3.7% of "
            "the rows of anomaly-free logs of 20 and 40 channels, pipelines/benchmarks/wide_logs.py, "
            "threshold_study.md's twelfth and fourteenth studies). The plot and the events show which; more training "
            "rows help in the second case"
            + ("; where the series' normal moved on after the training rows (a new load pattern that lasts), "
               f"{_refit_options(train_rows, table.index)} refits the detector on the last W rows every N rows so "
               "that it learns it (NAB's real files: 733 false alarms instead of 1,579, "
               "pipelines/benchmarks/nab_auto_refit.yaml), though over a long fault it learns the fault too"
               if causal else "")
            + ("; so does --param reference=cross_fitted, which fits auto's threshold on scores of rows its models "
               "did not see (clean 500-row series, a weekly cycle, a daily cycle and an AR(1): 0.3%, 0.7% and 4.3% of "
               "the rows flagged instead of 1.6%, 1.7% and 5.8% in causal mode, means over four series; where the "
               "training rows span several operating points it misses more anomalies: threshold_study.md, after the "
               "thirteenth study)" if getattr(detector, "reference_", None) == "in_sample" else "")
        )
        notes += [] if levels is None else _level_notes(*levels)
    return notes


def _refit_options(train_rows: int | None, index) -> str:
    """``--refit-every N --refit-window W`` with values to start from: W the job's training rows (what the detector
    was fitted on), N one cycle of rows where the step suggests one shorter than them (a day of 5-minute rows, 288),
    else a quarter of them: refitted once a cycle, the detector learns a lasting change within about a cycle (a
    level shift in 5-minute rows trained on 900: 181 rows flagged with 288 and 900, 712 with 900 and 1,800, 793
    without refits)."""
    if not train_rows:
        return "--refit-every N --refit-window W"
    from tsseq.data.timegrid import frequency_season

    freq = getattr(index, "freqstr", None)
    season = frequency_season(freq) if freq else 1
    every, why = (season, "one cycle") if 1 < season < train_rows else (max(train_rows // 4, 1), "a quarter of them")
    return (f"--refit-every N --refit-window W (to start from: W = {train_rows}, its training rows, and N = {every}, "
            f"{why})")


def _plural(count: int, noun: str = "row") -> str:
    """``count`` and ``noun``, with an s unless one: "1 row", "3 rows"."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _of_the(count: int, noun: str) -> str:
    return f"the {_plural(count, noun)}"


def _are(count: int) -> str:
    return "is" if count == 1 else "are"


def _fit_to_a_short_series(config, params: dict, n_rows: int, train_rows: int, lacking: int, source: str):
    """``(training rows, detector params, notes)``: the job's defaults fitted to a short series, each with a note.

    Where ``train_rows`` is not given and the detector holds out validation rows (``validation_fraction``), the
    training rows are raised so that at least ``MIN_NORMAL_SCORES`` are held out (auto's normalisers are fitted on
    their scores; 30% of a yearly series of 100 rows held out 6). Where ``window`` is not given, the detector's window
    is shortened to half the rows it trains on after the hold-out, so that they hold at least as many windows as a
    window has rows (the default 48 needs 207 rows at the default fractions: a quarterly or yearly series has fewer).
    Series long enough for the defaults are untouched."""
    from tsseq.anomaly.auto import MIN_NORMAL_SCORES
    from tsseq.anomaly.detectors import make_detector
    from tsseq.data.splits import held_out_rows, rows_holding_out
    from tsseq.errors import DataError

    name = config.detector.name
    detector = make_detector(name, **params)
    held_out = getattr(detector, "validation_fraction", None)
    window = getattr(detector, "window_length", None)
    notes = []
    if held_out is not None and config.train_rows is None:
        needed = lacking + rows_holding_out(held_out, MIN_NORMAL_SCORES)
        if train_rows < needed:
            if needed >= n_rows:
                trains = (f"trains on at least {needed} rows ({MIN_NORMAL_SCORES} of them held out for its validation "
                          f"scores, validation_fraction={held_out}) and scores the rows after them")
                raise ShortSeriesError(f"{source}: {n_rows} rows are too few for detector {name!r}: it {trains}.",
                                       needed + 1, f"detector {name!r} {trains}")  # fmt: skip
            notes.append(
                f"{SHORT_SERIES_NOTE}trained on the first {needed} rows, not train_fraction={config.train_fraction}'s "
                f"{train_rows}: detector {name!r} holds out validation_fraction={held_out} of them and needs "
                f"{MIN_NORMAL_SCORES} held out (--train-rows sets the rows)"
            )
            train_rows = needed
    if window is not None and config.window is None:
        fit_rows = train_rows - lacking
        inner = fit_rows - (held_out_rows(held_out, fit_rows) if held_out is not None else 0)
        longest = max(1, (inner + 1) // 2)
        if window > longest:
            params = {**params, "window_length": longest}
            notes.append(
                f"{SHORT_SERIES_NOTE}window {longest} instead of the default {window}, so that the {inner} rows it "
                "trains on hold as many windows as a window has rows (--window sets it)"
            )
    return train_rows, params, notes


ADAPTED_DEFAULTS = {"batch": "transductive", "causal": "adaptive"}  # the job's threshold by mode


def adapted_default(name: str, mode: str, threshold_params) -> str | None:
    """The threshold ``threshold: default`` means in ``mode``: ``ADAPTED_DEFAULTS[mode]`` (adapted to the scored
    rows) for the detectors whose own default is ``"false_alarm"`` (windowed ones, ``auto``), unless
    threshold_params are not that method's parameters; None: the detector's own."""
    from tsseq.anomaly.detectors import DETECTORS

    cls, preset = DETECTORS[name]
    own = {**cls().get_params(), **preset}.get("threshold")
    fits = set(threshold_params) <= _adapted_parameters(mode)
    return ADAPTED_DEFAULTS[mode] if own == "false_alarm" and fits else None


def _adapted_parameters(mode: str) -> set[str]:
    """The parameters of ``mode``'s adapted threshold (``ADAPTED_DEFAULTS``)."""
    from tsseq.anomaly.thresholds import make_thresholder

    return set(make_thresholder(ADAPTED_DEFAULTS[mode]).get_params())


def _refuse_the_other_modes_params(name: str, mode: str, threshold_params) -> None:
    """A ``threshold: default`` whose parameters only the other mode's adapted threshold takes (``raise_excess`` in
    causal mode, ``warmup`` in batch mode) is a mistake, not a request for the detector's own threshold: say so."""
    from tsseq.errors import ConfigError

    other = "batch" if mode == "causal" else "causal"
    if adapted_default(name, other, threshold_params) is None:
        return
    stray = sorted(set(threshold_params) - _adapted_parameters(mode))
    raise ConfigError(
        f"threshold parameter(s) {stray} belong to the {other} mode's default threshold ({ADAPTED_DEFAULTS[other]!r}, "
        f"--mode {other}); the {mode} mode's ({ADAPTED_DEFAULTS[mode]!r}) has no such parameter. Drop them, or "
        f"score with --mode {other}."
    )


def _refuse_unknown_params(name: str, mode: str, threshold_params) -> None:
    """A ``threshold: default`` parameter that neither ``mode``'s adapted threshold nor the detector's own
    ``"false_alarm"`` takes: named as one of the adapted one's (the threshold the job would have used), not of the
    ``"false_alarm"`` it falls back to."""
    from tsseq.anomaly.detectors import DETECTORS
    from tsseq.anomaly.thresholds import make_thresholder
    from tsseq.errors import ConfigError, closest_match

    cls, preset = DETECTORS[name]
    if {**cls().get_params(), **preset}.get("threshold") != "false_alarm":
        return
    adapted, own = _adapted_parameters(mode), set(make_thresholder("false_alarm").get_params())
    unknown = sorted(set(threshold_params) - adapted - own)
    if unknown:
        raise ConfigError(
            f"Threshold method {ADAPTED_DEFAULTS[mode]!r} (the default of --mode {mode}) has no parameter "
            f"{unknown[0]!r}; its parameters are {', '.join(sorted(adapted))}. The detector's own 'false_alarm', used "
            f"when every parameter given is one of its own, takes {', '.join(sorted(own))}."
            + closest_match(unknown[0], adapted | own)
        )


def _load_frame(config, base_dir: Path):
    """-> (the job's validated frame, its filled rows as :func:`filled_in` gives them); a CSV is read keeping
    irregular rows unless ``timestamps: grid``.

    Timestamps that are numbers and not Unix times (no ``timestamp_unit``) count rows, and
    a CSV without a timestamp column is read in row order: both are read as steps, scored on
    the row sequence and given back in the output (:func:`_row_sequence`).
    """
    import dataclasses

    from tsseq.data.checks import STEPS
    from tsseq.errors import ConfigError
    from tsseq.pipeline import load_frame, read_frame

    data = config.data
    # The policy fills after the read, to mark what it filled; resampling: missing raw values are skipped by the bin
    # means, and the policy is applied on the grid.
    kept = kept_missing(data.missing)
    if data.csv is None:  # catalog data sets are regular
        frame, source = load_frame(dataclasses.replace(data, missing=kept), base_dir), data.dataset
    else:
        grid = config.timestamps == "grid" and config.resample is None  # as forecasting reads it
        frame, source = read_frame(data, base_dir, data.target_columns, missing=kept,
                                   irregular="error" if grid else "keep",
                                   timestamp_unit=data.timestamp_unit or STEPS)  # fmt: skip
    if config.resample is not None:
        if frame.attrs.get("timestamps") == STEPS:
            raise ConfigError(
                f"{data.csv}: resample puts rows on a grid of time; these rows have no dates (their timestamps count "
                "rows). Leave resample out, or give Unix times a unit (timestamp_unit, --timestamp-unit s)."
            )
        frame = _resample(frame, config.resample, kept, str(data.csv or data.dataset))
        source = f"{data.csv or data.dataset} resampled to {config.resample}"  # as _resample's check names it
    return filled_in(frame, data.missing, source)


def _resample(frame, freq: str, missing: str, source: str):
    """The mean of each ``[bin, bin + freq)``; empty bins missing, then the ``missing`` policy."""
    import pandas as pd

    from tsseq.data.checks import check_series
    from tsseq.errors import ConfigError, DataError

    if isinstance(frame.index, pd.MultiIndex):
        raise DataError(f"{source}: tsseq detect scores one series; this data holds many (a series column).")
    try:
        binned = frame.resample(freq).mean()
    except (ValueError, TypeError) as error:
        raise ConfigError(f"resample: {freq!r} is not a pandas frequency such as '10s' or '1min' ({error}).") from None
    binned.index.name = frame.index.name
    return check_series(binned, source=f"{source} resampled to {freq}", freq=freq, missing=missing)


def _row_sequence(frame, config):
    """-> (the frame the detector sees, the original timestamps to restore or None, the spacing in words).

    On an irregular frame (``timestamps`` ``auto`` or ``rows``) the detector gets a
    regular surrogate index from the first timestamp in steps of the median step, so
    that every detector (some read the step, e.g. a ``seasonal_period`` in rows) sees
    one row per step; the output gets the original timestamps back.
    """
    import numpy as np
    import pandas as pd

    from tsseq.data.checks import STEPS, step_numbers

    if config.resample is not None:
        return frame, None, f"resampled to {config.resample}"
    index = frame.index
    numbers = step_numbers(index) if frame.attrs.get("timestamps") == STEPS else None
    if index.freq is not None or len(index) < 2:
        if numbers is None:
            return frame, None, "grid"
        return frame, numbers, _counted(numbers, f"every {numbers[1] - numbers[0]:g}" if len(index) > 1 else "one row")
    steps = pd.to_timedelta(np.diff(index.asi8), unit=index.unit)
    median = steps.median()
    step = median.round("ms") if median >= pd.Timedelta("1ms") else median
    surrogate = pd.date_range(index[0], periods=len(index), freq=step, name=index.name)
    seconds = [value.total_seconds() for value in (steps.min(), median, steps.max())]
    if numbers is not None:
        spacing = _counted(numbers, "irregular steps of {:g} to {:g}, median {:g}".format(seconds[0], seconds[2], seconds[1]))
    else:
        spacing = "rows (irregular steps of {:g} s to {:g} s, median {:g} s)".format(seconds[0], seconds[2], seconds[1])
        spacing += _gaps(index, steps, median)
    return frame.set_axis(surrogate), index if numbers is None else numbers, spacing


# A step this many times the median one is a gap in the log (a dropout), not jitter: named in the spacing note.
GAP_STEPS = 5


def _gaps(index, steps, median) -> str:
    """The spacing note's words on where the irregular rows' largest steps are (the rows before them), and, where
    some are gaps (``GAP_STEPS`` times the median step), the options that put the rows on a grid and mark the rows
    filled in: the detector scores the row sequence, so a gap of an hour reads as one step, and an operator looking
    for it must be told where it is."""
    import numpy as np

    def after(at: int) -> str:
        return f"{steps[at].total_seconds():g} s after {index[at]}"

    gaps = np.flatnonzero(steps > GAP_STEPS * median)
    if not len(gaps):
        return f"; the largest, {after(int(np.argmax(steps)))}"
    shown = ", ".join(after(int(at)) for at in gaps[:3]) + (f" and {len(gaps) - 3} more" if len(gaps) > 3 else "")
    # a log of one step with dropouts fits the median step's grid; jittered steps have no grid to reindex on
    multiples = steps / median
    on_grid = bool(np.allclose(multiples, np.round(multiples)))
    fill = "--reindex --missing interpolate" if on_grid else f"--resample {median.total_seconds():g}s --missing interpolate"
    return (f"; {_plural(len(gaps), 'step')} over {GAP_STEPS} times the median, {'gaps' if len(gaps) > 1 else 'a gap'} "
            "in the log, "
            f"scored as one step each: {shown}; {fill} puts the rows on the grid of the median step and fills the "
            f"gaps, marking the filled rows (column {FILLED_COLUMN!r})")


def _counted(numbers, steps: str) -> str:
    """The spacing note of rows whose timestamps are numbers that count them (or, with no timestamps, their
    numbers from 0)."""
    from tsseq.data.csv import ROW_COLUMN

    if numbers.name == ROW_COLUMN and numbers[0] == 0 and numbers[-1] == len(numbers) - 1:
        return f"rows in order, numbered from 0 to {numbers[-1]} in the output (the data have no timestamps)"
    return (f"rows in order, numbered by column {numbers.name!r} from {numbers[0]} to {numbers[-1]} ({steps}; "
            "numbers, not dates: Unix times need --timestamp-unit s or ms)")  # fmt: skip


def read_labels(path: Path, sep: str | None = None):
    """A CSV of labelled anomaly windows -> a frame with ``start`` and ``end`` timestamps (numbers where both
    columns are numbers: rows of data without dates).

    Read as the data is (:mod:`tsseq.data.csv`): the delimiter detected among ``,``, ``;``, tab and ``|``, or
    ``sep`` (``--sep``) where the header line holds it; the timestamps as :mod:`tsseq.data.checks` reads a
    timestamp column, ISO 8601 with or without a time of day (``2024-01-01`` beside ``2024-01-01 06:35``). An
    empty or unparsable cell is named by its line."""
    import pandas as pd

    from tsseq.data.csv import prepare_text
    from tsseq.errors import DataError, DataFileNotFoundError

    expected = "expected a CSV text file of labelled anomaly windows with columns 'start' and 'end'"
    if Path(path).is_dir():
        raise DataError(f"Labels file {str(path)!r} is a directory; {expected}.")
    if not Path(path).is_file():
        raise DataFileNotFoundError(f"Labels file {str(path)!r} does not exist.")
    with open(path, "rb") as handle:
        head = handle.read(8192)
    if b"\x00" in head:
        raise DataError(f"Labels file {str(path)!r} holds binary data; {expected}.")
    header = head.decode("utf-8", errors="replace").lstrip("\ufeff").partition("\n")[0]
    read_options: dict[str, object] = {"sep": sep} if sep is not None and sep in header else {}
    try:
        prepare_text(path, f"Labels file {str(path)!r}", read_options)  # the delimiter, unless --sep's is there
        labels = pd.read_csv(path, sep=read_options.get("sep", ","))
    except UnicodeDecodeError:
        raise DataError(f"Labels file {str(path)!r} is not UTF-8 text; {expected}.") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"Labels file {str(path)!r} is empty; {expected}.") from None
    except pd.errors.ParserError as error:
        raise DataError(f"Labels file {str(path)!r} is not a well-formed CSV file ({error}); {expected}.") from None
    missing = [column for column in ("start", "end") if column not in labels.columns]
    if missing:
        raise DataError(
            f"Labels file {str(path)!r} needs columns 'start' and 'end'; missing {missing}. Got {list(labels.columns)}."
        )
    empty = labels[["start", "end"]].isna().to_numpy()
    if empty.any():
        row, column = divmod(int(empty.argmax()), 2)
        raise DataError(
            f"Labels file {str(path)!r}: line {row + 2} (window {row + 1}) has no {('start', 'end')[column]} (an empty "
            f"cell); expected a timestamp in each of 'start' and 'end' (the same one for a window of one row). "
            f"{int(empty.any(axis=1).sum())} such window(s)."
        )
    numbers = all(pd.api.types.is_numeric_dtype(labels[column]) for column in ("start", "end"))
    if numbers:  # the rows of data whose timestamps are numbers that count them (a row column, say)
        windows = pd.DataFrame({"start": labels["start"], "end": labels["end"]})
    else:
        windows = _label_times(labels, path)
    reversed_rows = (windows["start"] > windows["end"]).to_numpy()
    if reversed_rows.any():
        row = int(reversed_rows.argmax())
        raise DataError(
            f"Labels file {str(path)!r}: line {row + 2} (window {row + 1}) starts at {windows['start'].iloc[row]} after "
            f"it ends at {windows['end'].iloc[row]}; expected start <= end. {int(reversed_rows.sum())} such window(s)."
        )
    return windows


def _label_times(labels, path: Path):
    """The ``start`` and ``end`` columns of a labels file -> one frame of timestamps, read together as the data
    reader reads a timestamp column (:func:`tsseq.data.checks._parse_timestamps`: one format, day or month
    first, UTC offsets); a cell that is no timestamp at all is named by its line first."""
    import pandas as pd

    from tsseq.data.checks import _parse_timestamps, _to_datetime
    from tsseq.data.timegrid import Where
    from tsseq.errors import DataError

    rows = len(labels)
    if rows == 0:
        return pd.DataFrame({"start": pd.DatetimeIndex([]), "end": pd.DatetimeIndex([])})
    text = pd.Index(pd.concat([labels["start"], labels["end"]]).astype(str).str.strip())

    def line(position: int) -> str:
        return f"line {position % rows + 2} ({('start', 'end')[position // rows]})"

    alone = [bool(pd.isna(_to_datetime(text[at : at + 1], dayfirst=False)[0])) for at in range(len(text))]
    if any(alone):
        position = alone.index(True)
        raise DataError(
            f"Labels file {str(path)!r}: {line(position)}: {text[position]!r} is not a timestamp; expected a date, "
            f"with or without a time of day, as the data's are written (e.g. 2024-01-01 06:35 or 2024-01-01). "
            f"{sum(alone)} such cell(s)."
        )
    times = _parse_timestamps(text, Where(f"Labels file {str(path)!r}", line, None))[0]
    return pd.DataFrame({"start": times[:rows], "end": times[rows:]})


def check_labels_match(labels, index, path: Path):
    """The labelled windows of the data's span -> those windows (a DataError where none is).

    Labels of numbers go with rows numbered by their timestamps, labels of dates with dates. A window wholly
    outside the first to last timestamp labels no scored row and would stretch the plot's time axis to it: where
    no window overlaps the span (labels of another series, or another year), a DataError naming the lines and the
    span; where some do, a warning naming the lines of the others, which are left off the plot."""
    import warnings

    import pandas as pd

    from tsseq.errors import DataError

    numbered = pd.api.types.is_numeric_dtype(labels["start"].dtype)
    if numbered != pd.api.types.is_numeric_dtype(index.dtype):
        has, data = ("numbers", "dates") if numbered else ("dates", "numbers that count rows")
        raise DataError(
            f"Labels file {str(path)!r}: its windows are {has}, but the data's timestamps are {data}; write the "
            "windows as the data's timestamps are written."
        )
    if len(labels) == 0 or len(index) == 0:
        return labels
    first, last = index.min(), index.max()
    starts, ends = labels["start"], labels["end"]
    if not numbered and (starts.dt.tz is None) != (index.tz is None):  # compared as UTC instants
        starts, ends, first, last = (_utc(times) for times in (starts, ends, first, last))
    outside = ((ends < first) | (starts > last)).to_numpy()
    if not outside.any():
        return labels
    lines = [str(int(row) + 2) for row in outside.nonzero()[0]]
    named = listed(lines, 10)
    span = f"the data's span, {first} to {last}"
    if outside.all():
        raise DataError(
            f"Labels file {str(path)!r}: no labelled window overlaps {span} (line(s) {named}, from "
            f"{labels['start'].min()} to {labels['end'].max()}); expected windows of this data's time (labels of "
            "another series, or another year?)."
        )
    warnings.warn(
        f"Labels file {str(path)!r}: {len(lines)} of {len(labels)} labelled windows lie outside {span}, at line(s) "
        f"{named}; they are left off the plot.",
        UserWarning,
        stacklevel=2,
    )
    return labels[~outside]


def _utc(times):
    """Timestamps (a Series or one) as naive UTC: aware ones converted, naive ones taken as UTC already."""
    import pandas as pd

    if isinstance(times, pd.Series):
        return times.dt.tz_convert("UTC").dt.tz_localize(None) if times.dt.tz is not None else times
    return times.tz_convert("UTC").tz_localize(None) if times.tz is not None else times


def scored_against_labels(labels, result) -> str:
    """A detection's flags scored against labelled windows (:func:`check_labels_match`'s), as one line for stderr:
    the event-level recall and precision of its events (:func:`tsseq.anomaly.metrics.event_precision_recall_f1`, the
    events as ``--events`` writes them) and the point precision, recall and F1
    (:func:`~tsseq.anomaly.metrics.point_precision_recall_f1`), over the scored rows only: the training rows are
    what the detector learned normal from, and in causal mode get no score at all. A window covers the rows from its
    start to its end, both included."""
    import numpy as np
    import pandas as pd

    from tsseq.anomaly.metrics import event_precision_recall_f1, label_segments, point_precision_recall_f1

    table, first = result.table, result.train_rows
    index, starts, ends = table.index, labels["start"], labels["end"]
    if isinstance(index, pd.DatetimeIndex) and (starts.dt.tz is None) != (index.tz is None):  # as UTC instants
        index, starts, ends = _utc(index), _utc(starts), _utc(ends)

    def rows_within(starts, ends, times) -> np.ndarray:
        """Rows of the sorted ``times`` in any ``[start, end]``: one pass, not one over the rows per span."""
        marks = np.zeros(len(times) + 1, dtype=np.int64)
        np.add.at(marks, times.searchsorted(starts, side="left"), 1)
        np.add.at(marks, times.searchsorted(ends, side="right"), -1)
        return np.cumsum(marks[:-1]) > 0

    truth = rows_within(starts, ends, index)[first:]
    scored = f"the {len(truth)} scored rows (the {first} training rows not counted)"
    real = label_segments(truth)
    if "is_anomaly" not in table:
        return f"labels: {_plural(len(real), 'window')} in {scored}; no flags to score (no threshold)"
    if not real:
        return f"labels: no labelled window lies in {scored}; the flags are not scored"
    flags = table["is_anomaly"].to_numpy(dtype=bool)[first:]
    in_events = rows_within(result.events["start"], result.events["end"], table.index)[first:]
    events = event_precision_recall_f1(in_events, truth)
    flagged = len(label_segments(in_events))
    points = point_precision_recall_f1(flags, truth)
    found, false = round(events.recall * len(real)), flagged - round(events.precision * flagged)
    return (
        f"labels: {_plural(len(real), 'window')} in {scored}; event recall {events.recall:.2f} ({found} of "
        f"{len(real)} found), event precision {events.precision:.2f} ({false} of {_plural(flagged, 'event')} false), "
        f"point F1 {points.f1:.2f} (precision {points.precision:.2f}, recall {points.recall:.2f})"
    )
