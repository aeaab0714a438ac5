"""The causal threshold adapted to the scores seen so far (AdaptiveThresholder; threshold_study.md's 4th study)."""

from __future__ import annotations

import numpy as np
import pytest

from tsseq.anomaly.thresholds import (
    AdaptiveThresholder,
    FalseAlarmThresholder,
    causal_smooth,
    make_thresholder,
    threshold_is_causal,
)
from tsseq.errors import ConfigError

RNG = np.random.default_rng(0)
NORMAL = RNG.lognormal(0.0, 0.5, 2000)  # the training rows' scores


def _period(n_normal: int = 600, n_bad: int = 300, bad_mean: float = 2.2, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Normal scores, then a long collective anomaly whose single scores mostly stay under the floor."""
    rng = np.random.default_rng(seed)
    scores = np.concatenate([rng.lognormal(0.0, 0.5, n_normal), rng.lognormal(np.log(bad_mean), 0.3, n_bad),
                             rng.lognormal(0.0, 0.5, n_normal)])  # fmt: skip
    labels = np.zeros(scores.size, dtype=bool)
    labels[n_normal : n_normal + n_bad] = True
    return scores, labels


def test_it_flags_a_collective_anomaly_that_the_floor_misses_and_stays_quiet_before_it() -> None:
    # a long anomaly (600 rows) whose single scores stay under the floor, and most of their smoothed means too
    scores, labels = _period(n_normal=300, n_bad=600, bad_mean=1.5)
    adaptive = AdaptiveThresholder(gate=None).fit(NORMAL)  # the split alone (the gate: tests below)
    flags, thresholds = adaptive.run(scores)
    anomaly = np.flatnonzero(labels)
    smoothed_floor = FalseAlarmThresholder(rate=0.01, smoothing=9).fit(NORMAL).predict(scores)[anomaly].mean()
    assert FalseAlarmThresholder(rate=0.01).fit(NORMAL).predict(scores)[anomaly].mean() < 0.05
    assert smoothed_floor < 0.5  # the same smoothing with the fixed floor misses most of it
    assert flags[anomaly].mean() > smoothed_floor + 0.2  # the split of the rows seen so far lowers the floor
    assert flags[: anomaly[0]].mean() < 0.02  # the normal rows before it: about the floor's false alarms
    assert flags[anomaly[-1] + 1 :].mean() < 0.1  # after it the split remembers it: a few more false alarms
    assert np.all(thresholds <= adaptive.floor_ + 1e-12)  # lowered, never raised
    np.testing.assert_array_equal(thresholds[:99], adaptive.floor_)  # the floor until `warmup` rows were seen


def test_its_flags_are_causal_and_a_stream_one_score_at_a_time_gives_the_same() -> None:
    scores, _ = _period()
    whole_flags, whole_thresholds = AdaptiveThresholder().fit(NORMAL).run(scores)
    for cut in (1, 99, 100, 101, 457, 750):  # a prefix's flags never depend on the rows after it
        prefix_flags, prefix_thresholds = AdaptiveThresholder().fit(NORMAL).run(scores[:cut])
        np.testing.assert_array_equal(prefix_flags, whole_flags[:cut])
        np.testing.assert_array_equal(prefix_thresholds, whole_thresholds[:cut])
    stream = AdaptiveThresholder().fit(NORMAL)
    pieces = [stream.run(scores[i : i + size]) for i, size in ((0, 1), (1, 98), (99, 2), (101, 500), (601, 899))]
    np.testing.assert_array_equal(np.concatenate([p[0] for p in pieces]), whole_flags)
    np.testing.assert_array_equal(np.concatenate([p[1] for p in pieces]), whole_thresholds)
    one_at_a_time = AdaptiveThresholder().fit(NORMAL)
    flags = [bool(one_at_a_time.predict(np.array([score]))[0]) for score in scores[:300]]
    np.testing.assert_array_equal(flags, whole_flags[:300])


def test_known_answer_of_the_refresh_schedule_and_the_smoothing() -> None:
    # warmup 4, refresh 2; one normal score in 10 above 1.0, so a split at 1.0 needs 1 in 10 above it
    normal = np.array([0.8, 0.85, 0.9, 0.95, 1.0, 0.9, 0.85, 0.8, 0.95, 1.2])
    scores = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 5.0, 5.0, 5.0, np.nan, 5.0])
    thresholder = AdaptiveThresholder(smoothing=1, warmup=4, refresh=2, memory=None, min_excess=1.0).fit(normal)
    floor = float(np.quantile(np.sort(normal), 0.99))
    flags, thresholds = thresholder.run(scores)
    # refreshes after the 4th, 6th and 8th finite score (rows 3, 5, 7; row 8's NaN is not counted): at row 3
    # every score is 1.0 (no split), at row 5 the split lies at 1.0 (one 5 above four 1s), lowered from the floor
    np.testing.assert_allclose(thresholds, [floor] * 5 + [1.0] * 5)
    np.testing.assert_array_equal(flags, [False] * 5 + [True, True, True, False, True])
    assert thresholder.count_ == 9 and thresholder.seen_.size == 9
    smoothed = AdaptiveThresholder(smoothing=3, warmup=4, refresh=2).fit(normal).smooth(scores[:3])
    np.testing.assert_allclose(smoothed, causal_smooth(scores[:3], 3, history=normal))  # continues from the fit


def test_its_memory_bounds_what_the_split_reads() -> None:
    scores, _ = _period()
    thresholder = AdaptiveThresholder(memory=200).fit(NORMAL)
    thresholder.run(scores)
    assert thresholder.seen_.size == 200
    np.testing.assert_allclose(thresholder.seen_, causal_smooth(scores, 9, history=NORMAL)[-200:])
    np.testing.assert_array_equal(thresholder.sorted_, np.sort(thresholder.seen_))  # kept sorted as rows come and go
    assert thresholder.threshold_ == pytest.approx(thresholder.floor_)  # the last 200 rows are normal again


def test_it_is_registered_causal_and_its_parameters_are_checked() -> None:
    assert threshold_is_causal("adaptive")
    assert isinstance(make_thresholder("adaptive"), AdaptiveThresholder)
    for params, name in (({"warmup": 2}, "warmup"), ({"refresh": 0}, "refresh"), ({"memory": 50}, "memory"),
                         ({"min_excess": 0.5}, "min_excess"), ({"rate": 1.0}, "rate"),
                         ({"smoothing": 0}, "smoothing"), ({"smoother": "max"}, "smoother")):  # fmt: skip
        with pytest.raises(ConfigError, match=name):
            make_thresholder("adaptive", **params)


def _shifted_series(n: int = 900, shift: float = 0.2, seed: int = 0):
    import pandas as pd

    rng = np.random.default_rng(seed)
    t = np.arange(n)
    values = np.sin(2 * np.pi * t / 24) + 0.1 * rng.standard_normal(n)
    values[500:700] += shift  # a long, small shift in the scored rows
    frame = pd.DataFrame({"value": values}, index=pd.date_range("2024-01-01", periods=n, freq="h"))
    frame.index.name = "timestamp"
    return frame


def test_tsseq_detect_causal_default_is_the_adaptive_threshold(tmp_path, capsys) -> None:
    import pandas as pd

    from tsseq.cli import main

    path = tmp_path / "sensor.csv"
    _shifted_series().to_csv(path)
    runs = {}
    said = {}
    for name, extra in (("default", []), ("adaptive", ["--threshold", "adaptive"]),
                        ("false_alarm", ["--threshold", "false_alarm"]),
                        ("every_event", ["--threshold-param", "brief_gate=null"])):  # fmt: skip
        output = tmp_path / f"{name}.csv"
        code = main(["detect", str(path), "--detector", "ar_residual", "--window", "24", "--train-rows", "300",
                     *extra, "--output", str(output), "--events", str(tmp_path / f"{name}_events.csv")])  # fmt: skip
        said[name] = capsys.readouterr().err
        assert code == 0, said[name]
        runs[name] = pd.read_csv(output)
    default, floor = runs["default"], runs["false_alarm"]
    pd.testing.assert_frame_equal(default, runs["adaptive"])
    assert "smoothed_score" in default and "smoothed_score" not in floor
    # the smoothed score is the causal mean of the last 9 scores, continuing from the training rows' scores
    scored = default["score"].to_numpy()[300:]
    np.testing.assert_allclose(default["smoothed_score"].to_numpy()[308:], np.convolve(scored, np.ones(9) / 9, "valid"))
    assert default["smoothed_score"].iloc[:300].isna().all()
    # the threshold each scored row met: the floor until the shift, lowered by the split during it; the
    # flags are the smoothed scores above it
    threshold = default["threshold"].to_numpy()
    assert np.isnan(threshold[:300]).all() and (threshold[300:500] == threshold[300]).all()
    assert np.nanmax(threshold) == threshold[300] > threshold[500:700].min()
    flags, floor_flags = default["is_anomaly"].to_numpy(), floor["is_anomaly"].to_numpy()
    # the flags: the smoothed scores above it, of the rows whose own score passes one level (the gate), less the
    # rows of events shorter than 9 rows with no own score over the brief gate (brief_gate=null keeps them)
    above = default["smoothed_score"].to_numpy()[300:] > threshold[300:]
    gated = runs["every_event"]["is_anomaly"].to_numpy()[300:]
    assert not (gated & ~above).any()
    assert scored[above & ~gated].max() < scored[gated].min()
    assert not (flags[300:] & ~gated).any() and flags.sum() < gated.sum()
    assert np.unique(floor["threshold"].dropna()).size == 1  # the floor: one threshold for every scored row
    assert above[220:400].mean() > 0.95 > 0.5 > floor_flags[520:700].mean()
    assert flags[520:700].mean() > 0.3 and flags[300:500].mean() < 0.05  # quiet before the shift
    # events: the flagged rows joined across rows whose smoothed score passes the threshold, so that each stretch
    # above it with a flagged row is one event, from its first flagged row to its last; and stretches at most 8
    # unflagged rows apart (the smoothing window less one) are one event
    from tsseq.anomaly.metrics import label_segments

    events = pd.read_csv(tmp_path / "default_events.csv", parse_dates=["start", "end"])
    stamps = pd.to_datetime(default["timestamp"]).to_numpy()
    rows = [(int(np.searchsorted(stamps, a)), int(np.searchsorted(stamps, b)) + 1)
            for a, b in zip(events["start"], events["end"])]  # fmt: skip
    stretches = [(a + 300, b + 300) for a, b in label_segments(above) if flags[a + 300 : b + 300].any()]
    bridged = [(a + np.flatnonzero(flags[a:b])[0], a + np.flatnonzero(flags[a:b])[-1] + 1) for a, b in stretches]
    expected = bridged[:1]
    for start, end in bridged[1:]:
        expected[-1:] = [(expected[-1][0], end)] if start - expected[-1][1] <= 8 else [expected[-1], (start, end)]
    assert rows == expected and len(rows) < len(bridged) < len(label_segments(flags))
    # it says where the split lowered the threshold, and what that added; the fixed threshold has nothing to say
    lowered = threshold < threshold[300]
    under = int((flags & (default["smoothed_score"].to_numpy() <= threshold[300])).sum())
    assert (f"lowered it below its floor {threshold[300]:.4g} (a false-alarm rate of 0.01 of the training rows' "
            f"scores) on {lowered.sum()} of 600 scored rows, from {default['timestamp'][np.argmax(lowered)]}, to "
            f"{np.nanmin(threshold):.4g} at its lowest; {under} of the {flags.sum()} flagged rows are under the "
            "floor") in " ".join(said["default"].split())  # fmt: skip
    assert under > 0 and "lowered" not in said["false_alarm"]
    # and how many rows over the threshold its gate left unflagged, and how many over the gate its brief gate
    held, brief = int((above & ~gated).sum()), int((gated & ~flags[300:]).sum())
    told = " ".join(said["default"].split())
    assert held > 0 and (f"{held} of the {int(above.sum())} rows whose smoothed score passes it are not flagged: their "
                         "own scores are under its gate") in told  # fmt: skip
    one = brief == 1  # the seed gives one: "1 row ... is ... it belongs"
    assert brief > 0 and (f"{brief} row{'' if one else 's'} over its gate {'is' if one else 'are'} not flagged: "
                          f"{'it belongs' if one else 'they belong'} to events shorter than its smoothing window (9 "
                          "rows)") in told  # fmt: skip
    assert "gate" not in said["false_alarm"] and "over its gate" not in " ".join(said["every_event"].split())
    # causal: the flags of the rows before 600 do not change when the rows after it are cut off
    _shifted_series().iloc[:600].to_csv(path)
    output = tmp_path / "prefix.csv"
    assert main(["detect", str(path), "--detector", "ar_residual", "--window", "24", "--train-rows", "300",
                 "--output", str(output)]) == 0  # fmt: skip
    np.testing.assert_array_equal(pd.read_csv(output)["is_anomaly"].to_numpy(), flags[:600])


def test_the_auto_detector_names_it_in_its_report() -> None:
    from tsseq.anomaly.auto import AutoDetector

    frame = _shifted_series()
    detector = AutoDetector(members=["ar_residual"], window_length=24, threshold="adaptive").fit(frame.iloc[:300])
    report = " ".join(detector.report().split())
    assert "Otsu's split of the scored rows' combined scores seen so far (every 10 rows, from the 100th)" in report
    gate = detector.thresholder_.gate_
    assert f"a row is flagged when its own combined score also passes {gate:.4g}, the 0.9 quantile" in report
    assert gate == np.quantile(detector.normal_scores_[np.isfinite(detector.normal_scores_)], 0.9)
    flagged = detector.detect(frame)["is_anomaly"].to_numpy()
    assert flagged[520:700].mean() > 0.3 > 0.05 > flagged[300:500].mean()  # the shift's rows, those unusual enough
    ungated = AutoDetector(members=["ar_residual"], window_length=24, threshold="adaptive",
                           threshold_params={"gate": None}).fit(frame.iloc[:300])  # fmt: skip
    assert ungated.detect(frame)["is_anomaly"].to_numpy()[520:700].mean() > 0.9


def test_each_refresh_applies_the_batch_split_to_the_remembered_rows() -> None:
    # the reference, brute force: at each refresh, TransductiveThresholder's test on the last `memory` smoothed rows
    from tsseq.anomaly.thresholds import TransductiveThresholder

    scores, _ = _period(n_normal=400, n_bad=300, bad_mean=1.6, seed=3)
    scores[[5, 250, 251, 600]] = np.nan  # missing scores neither count nor enter the split
    thresholder = AdaptiveThresholder(memory=250, refresh=7, warmup=50).fit(NORMAL)
    _, thresholds = thresholder.run(scores)
    smoothed = causal_smooth(scores, 9, history=NORMAL)
    judge = TransductiveThresholder(min_excess=2.0, smoothing=1).fit(causal_smooth(NORMAL, 9))
    finite_rows = np.flatnonzero(np.isfinite(smoothed))
    expected, current = np.empty(scores.size), judge.floor_
    for row in range(scores.size):
        seen = np.searchsorted(finite_rows, row, side="right")  # finite scores up to and including this row
        if np.isfinite(smoothed[row]) and seen >= 50 and (seen - 50) % 7 == 0:
            current = judge._applied(smoothed[finite_rows[max(0, seen - 250) : seen]])[0]
        expected[row] = current
    np.testing.assert_array_equal(thresholds, expected)
    assert np.unique(expected).size > 10  # the split moved the threshold many times


def test_with_many_series_a_threshold_note_names_its_series(tmp_path, capsys) -> None:
    # Two series in one long file, only "shifted" with the long shift that lowers its threshold: the note says which.
    import pandas as pd

    from tsseq.cli import main

    calm, shifted = _shifted_series(shift=0.0), _shifted_series()
    frame = pd.concat([calm.assign(id="calm"), shifted.assign(id="shifted")]).reset_index()
    path, output = tmp_path / "two.csv", tmp_path / "scores.csv"
    frame.to_csv(path, index=False)
    code = main(["detect", str(path), "--series-column", "id", "--detector", "ar_residual", "--window", "24",
                 "--train-rows", "300", "--output", str(output)])  # fmt: skip
    said = " ".join(capsys.readouterr().err.split())
    assert code == 0, said
    assert "series 'shifted': threshold: the split of the scored rows' scores lowered it below its floor" in said
    assert "series 'calm': threshold: the split" not in said


@pytest.mark.parametrize("method", ["adaptive", "transductive"])
def test_the_gate_flags_only_rows_whose_own_score_passes_its_quantile_of_the_normal_scores(method: str) -> None:
    # a spike: the moving mean of 9 rows carries it into its neighbours (causal: the 8 rows after it; centred: 4
    # on either side), rows whose own scores are normal; the gate keeps those whose own score is unusual
    scores = np.random.default_rng(5).lognormal(0.0, 0.5, 400)
    scores[200] = 40.0
    gated = make_thresholder(method).fit(NORMAL)
    ungated = make_thresholder(method, gate=None).fit(NORMAL)
    assert gated.gate == 0.9 and gated.gate_ == np.quantile(NORMAL, 0.9) and ungated.gate_ == -np.inf
    flags, plain = gated.predict(scores), ungated.predict(scores)
    neighbours = np.arange(201, 209) if method == "adaptive" else np.r_[196:200, 201:205]
    assert plain[neighbours].all() and plain[200]  # the smoothing alone flags the spike's neighbours
    np.testing.assert_array_equal(flags, plain & (scores > gated.gate_))  # known answer
    assert flags[200] and flags[neighbours].sum() == (scores[neighbours] > gated.gate_).sum() < neighbours.size
    with pytest.raises(ConfigError, match="gate"):
        make_thresholder(method, gate=1.5).fit(NORMAL)
