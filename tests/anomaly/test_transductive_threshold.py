"""The batch threshold adapted to the scored period (TransductiveThresholder; threshold_study.md's 2nd and 3rd studies)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tsseq.anomaly.thresholds import (
    TransductiveThresholder,
    make_thresholder,
    threshold_is_causal,
)
from tsseq.errors import ConfigError

RNG = np.random.default_rng(0)
NORMAL = RNG.lognormal(0.0, 0.5, 4000)  # the training rows' scores: floor = exp(0.5 * 2.326) = 3.2


def _scored(anomalous_share: float, mean_log: float, sd_log: float, n: int = 3000, seed: int = 1):
    rng = np.random.default_rng(seed)
    n_bad = int(anomalous_share * n)
    scores = np.concatenate([rng.lognormal(0.0, 0.5, n - n_bad), rng.lognormal(mean_log, sd_log, n_bad)])
    labels = np.arange(n) >= n - n_bad
    return scores, labels


@pytest.mark.parametrize("method", ["otsu", "mixture"])
def test_the_split_lands_between_the_modes_of_a_bimodal_period(method: str) -> None:
    # 20% of the rows around exp(3) = 20, the rest as the normal scores (around 1): the split lies
    # between the groups, flagging (almost) all of the high group and (almost) none of the low one.
    scores, labels = _scored(0.2, 3.0, 0.3)
    thresholder = TransductiveThresholder(method=method, lower_only=False, smoothing=1).fit(NORMAL)
    flags = thresholder.predict(scores)
    assert thresholder.accepted_
    assert np.max(scores[~labels]) * 0.5 < thresholder.threshold_ < np.min(scores[labels]) * 2
    assert flags[labels].mean() > 0.99 and flags[~labels].mean() < 0.01


@pytest.mark.parametrize("method", ["otsu", "mixture", "knee"])
def test_a_period_like_the_normal_scores_falls_back_to_the_floor(method: str) -> None:
    scores = np.random.default_rng(2).lognormal(0.0, 0.5, 3000)  # unimodal, as the training rows
    thresholder = TransductiveThresholder(method=method, lower_only=False, smoothing=1).fit(NORMAL)
    floor = np.quantile(NORMAL, 0.99)
    flags = thresholder.predict(scores)
    assert thresholder.floor_ == pytest.approx(floor)
    assert not thresholder.accepted_
    assert thresholder.threshold_ == pytest.approx(floor)
    assert abs(flags.mean() - 0.01) < 0.01


def test_estimated_f1_on_a_period_like_the_normal_scores_flags_no_more_than_the_floor() -> None:
    # Its contamination estimate is a maximum over thresholds, so sampling noise in the far tail
    # (a score above every normal one: p0 = 0) passes the excess test; it then flags fewer rows.
    scores = np.random.default_rng(2).lognormal(0.0, 0.5, 3000)
    thresholder = TransductiveThresholder(method="estimated_f1", lower_only=False, smoothing=1).fit(NORMAL)
    assert thresholder.predict(scores).mean() <= 0.011
    floor_share = (scores > np.quantile(NORMAL, 0.99)).mean()
    lower_only = TransductiveThresholder(method="estimated_f1", smoothing=1, raise_excess=None).fit(NORMAL)
    assert lower_only.predict(scores).mean() == pytest.approx(floor_share)  # the floor
    # its split above the floor, with the band under it as normal as the training rows: the default raises to it
    default = TransductiveThresholder(method="estimated_f1", smoothing=1).fit(NORMAL)
    assert default.predict(scores).mean() < floor_share and default.threshold_ > default.floor_


def test_the_default_lowers_the_floor_for_a_large_group_of_moderately_high_scores() -> None:
    # 30% of the rows around exp(1.1) = 3.0, under the floor (3.2): a fixed 1% false-alarm rate
    # misses most of them; the default (Otsu, lower only) flags them at an estimated precision >= 1/2.
    scores, labels = _scored(0.3, 1.1, 0.12)
    floor_flags = make_thresholder("false_alarm").fit(NORMAL).predict(scores)
    thresholder = make_thresholder("transductive", smoothing=1).fit(NORMAL)
    flags = thresholder.predict(scores)
    assert thresholder.accepted_ and thresholder.threshold_ < thresholder.floor_
    assert flags[labels].mean() > 0.8 > floor_flags[labels].mean()
    assert labels[flags].mean() > 0.5  # precision, as the acceptance test estimates it


def test_lower_only_without_raise_excess_never_raises_the_floor() -> None:
    scores, _ = _scored(0.05, 4.0, 0.2)  # a small group far above the floor: Otsu's split is above it
    above = TransductiveThresholder(lower_only=False, smoothing=1).fit(NORMAL)
    above.predict(scores)
    lower = TransductiveThresholder(lower_only=True, raise_excess=None, smoothing=1).fit(NORMAL)
    lower.predict(scores)
    assert above.accepted_ and above.threshold_ > above.floor_
    assert lower.threshold_ == pytest.approx(lower.floor_)


def test_a_split_above_the_floor_is_the_threshold_when_the_band_below_it_holds_no_excess() -> None:
    # 5% of the rows around exp(4) = 55, far above the floor (3.2), the rest drawn as the normal scores: the rows
    # between the floor and the split are the normal ones' 1% (times 0.95), so the default raises the threshold to
    # the split, and the normal rows above the floor are no longer flagged.
    scores, labels = _scored(0.05, 4.0, 0.2)
    default = TransductiveThresholder(smoothing=1).fit(NORMAL)
    flags = default.predict(scores)
    floor_only = TransductiveThresholder(raise_excess=None, smoothing=1).fit(NORMAL)
    floor_flags = floor_only.predict(scores)
    assert default.raise_excess == 2.0 and default.accepted_
    assert default.threshold_ > default.floor_ == floor_only.threshold_
    assert flags[labels].all() and not flags[~labels].any()
    assert floor_flags[labels].all() and floor_flags[~labels].sum() > 0.005 * (~labels).sum()
    # the band's share against raise_excess times the normal scores' share there: a known answer
    normal = NORMAL[NORMAL > default.floor_]
    band_normal = np.mean((NORMAL > default.floor_) & (NORMAL <= default.threshold_))
    band_scored = np.mean((scores > default.floor_) & (scores <= default.threshold_))
    assert normal.size > 0 and band_scored <= 2.0 * band_normal


def test_a_band_of_milder_anomalies_under_the_split_keeps_the_floor() -> None:
    # the same far group, and 10% more rows around exp(1.6) = 5, above the floor but far under the far group: the
    # split separates the far group, and the band between the floor and it holds many times the normal share
    rng = np.random.default_rng(4)
    scores = np.concatenate([rng.lognormal(0.0, 0.5, 2550), rng.lognormal(1.6, 0.1, 300), rng.lognormal(4.0, 0.2, 150)])
    mild = np.zeros(scores.size, dtype=bool)
    mild[2550:2850] = True
    default = TransductiveThresholder(smoothing=1).fit(NORMAL)
    flags = default.predict(scores)
    assert default.accepted_ and default.threshold_ == pytest.approx(default.floor_)
    assert flags[mild].mean() > 0.9 and flags[2850:].all()
    raised = TransductiveThresholder(smoothing=1, raise_excess=1000.0).fit(NORMAL)  # a band this full still raises
    assert raised.predict(scores)[mild].mean() < 0.1 and raised.threshold_ > raised.floor_


def test_the_causal_split_never_raises_the_floor() -> None:
    # the stream judges a raise on the rows seen so far, which would unflag milder anomalies that come later
    scores, _ = _scored(0.05, 4.0, 0.2)
    adaptive = make_thresholder("adaptive", smoothing=1, warmup=100).fit(NORMAL)
    _, thresholds = adaptive.run(scores)
    assert adaptive.split_.raise_excess is None
    assert np.all(thresholds <= adaptive.floor_ + 1e-12)


def test_otsu_known_answer_and_nan_scores() -> None:
    normal = np.linspace(0.5, 1.05, 100)  # no normal score above 1.05: the split passes the excess test
    thresholder = TransductiveThresholder(lower_only=False, smoothing=1).fit(normal)
    scores = np.array([1.0, 1.05, np.nan, 1.02, 9.0, 10.0, 1.01, 1.03, 11.0, 1.04])
    flags = thresholder.predict(scores)
    assert thresholder.accepted_
    assert thresholder.threshold_ == pytest.approx(1.05)  # the largest score of the lower group
    assert flags.tolist() == [False, False, False, False, True, True, False, False, True, False]


def test_one_score_at_a_time_is_the_floor() -> None:
    thresholder = make_thresholder("transductive").fit(NORMAL)
    for value in (0.5, 100.0):
        thresholder.predict(np.array([value]))
        assert thresholder.threshold_ == pytest.approx(thresholder.floor_) and not thresholder.accepted_


def test_it_is_not_causal_and_refuses_to_stream() -> None:
    assert not threshold_is_causal("transductive")
    assert threshold_is_causal("false_alarm") and threshold_is_causal("spot")
    with pytest.raises(ConfigError, match="not causal"):
        make_thresholder("transductive").fit(NORMAL).run(NORMAL)


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"method": "otsuu"}, "method"),
        ({"rate": 0.0}, "rate"),
        ({"rate": 1.5}, "rate"),
        ({"max_fraction": 1.0}, "max_fraction"),
        ({"min_excess": 0.5}, "min_excess"),
        ({"min_excess": float("inf")}, "min_excess"),
        ({"min_separation": -1.0}, "min_separation"),
        ({"lower_only": "yes"}, "lower_only"),
        ({"raise_excess": 0.5}, "raise_excess"),
        ({"raise_excess": float("nan")}, "raise_excess"),
        ({"smoothing": 0}, "smoothing"),
        ({"smoothing": 2.5}, "smoothing"),
    ],
)
def test_parameter_errors_name_the_parameter(params: dict, name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        make_thresholder("transductive", **params)
    with pytest.raises(ConfigError, match=name):
        TransductiveThresholder(**params).fit(NORMAL)


def test_an_unknown_method_suggests_the_closest() -> None:
    with pytest.raises(ConfigError, match="otsu"):
        make_thresholder("transductive", method="otsuu")
    with pytest.raises(ConfigError, match="no parameter 'tail'"):
        make_thresholder("transductive", tail="pot")
    with pytest.raises(ConfigError, match="smoother must be one of mean, median.*Did you mean 'median'"):
        make_thresholder("transductive", smoother="medain")


def _series(n: int = 600, seed: int = 0, shift: float = 1.5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    values = np.sin(2 * np.pi * t / 24) + 0.1 * rng.standard_normal(n)
    values[450:520] += shift  # a long shift in the scored rows
    return pd.DataFrame({"value": values}, index=pd.date_range("2024-01-01", periods=n, freq="h"))


def test_causal_detectors_refuse_it_and_batch_detectors_use_it() -> None:
    from tsseq.anomaly.detectors import make_detector

    frame = _series()
    with pytest.raises(ConfigError, match="not causal"):
        make_detector("ar_residual", window_length=24, threshold="transductive").fit(frame.iloc[:300])
    detector = make_detector("ar_residual", window_length=24, threshold="transductive", causal=False)
    detected = detector.fit(frame.iloc[:300]).detect(frame.iloc[300:])
    assert detector.threshold_ == pytest.approx(detector.thresholder_.floor_)  # unchanged by detect
    assert detected["is_anomaly"].iloc[150:220].mean() > 0.5  # the shift is flagged


def test_the_batch_job_default_is_transductive_and_the_causal_one_adaptive() -> None:
    from tsseq.anomaly.job import adapted_default

    assert adapted_default("ar_residual", "batch", {}) == "transductive"
    assert adapted_default("lstm_ae", "batch", {"rate": 0.005}) == "transductive"
    assert adapted_default("auto", "batch", {}) == "transductive"
    assert adapted_default("ar_residual", "batch", {"smoothing": 4}) == "transductive"  # its own centred smoothing
    assert adapted_default("ar_residual", "batch", {"tail": "pot"}) is None  # a false_alarm parameter: false_alarm
    assert adapted_default("auto", "causal", {}) == "adaptive"
    assert adapted_default("lstm_ae", "causal", {"warmup": 50}) == "adaptive"
    assert adapted_default("ar_residual", "causal", {"tail": "pot"}) is None
    assert adapted_default("ar_residual", "causal", {"method": "otsu"}) is None  # a transductive-only parameter
    for mode in ("batch", "causal"):
        assert adapted_default("online_residual", mode, {}) is None
        assert adapted_default("online_interval", mode, {}) is None


@pytest.fixture()
def shifted_csv(tmp_path):
    frame = _series(shift=0.8)  # small enough that the training false-alarm threshold misses part of it
    frame.index.name = "timestamp"
    path = tmp_path / "sensor.csv"
    frame.to_csv(path)
    return path


def test_tsseq_detect_batch_default_adapts_to_the_scored_rows(shifted_csv, tmp_path, capsys) -> None:
    from tsseq.cli import main

    runs, said = {}, {}
    for name, extra in (("default", []), ("false_alarm", ["--threshold", "false_alarm"])):
        output = tmp_path / f"{name}.csv"
        code = main(["detect", str(shifted_csv), "--detector", "ar_residual", "--window", "24", "--mode", "batch",
                     "--train-rows", "300", *extra, "--output", str(output),
                     "--events", str(tmp_path / f"{name}_events.csv")])  # fmt: skip
        said[name] = " ".join(capsys.readouterr().err.split())
        assert code == 0, said[name]
        runs[name] = pd.read_csv(output)
    # the smoothed shift stands above the floor here: the threshold is the floor, and no note says otherwise
    assert "lowered" not in said["default"] and "lowered" not in said["false_alarm"]
    assert (runs["default"]["threshold"].dropna() == runs["default"]["threshold"].dropna().iloc[0]).all()
    default, false_alarm = runs["default"], runs["false_alarm"]
    assert "smoothed_score" in default and "smoothed_score" not in false_alarm
    # the flags: the smoothed scores over one threshold, of the rows whose own score passes the gate, the 0.9
    # quantile of the training rows' scores
    flagged = default["is_anomaly"].to_numpy()
    smoothed, score = default["smoothed_score"].to_numpy(), default["score"].to_numpy()
    above = smoothed > default["threshold"].to_numpy()
    gate = np.quantile(score[:300][np.isfinite(score[:300])], 0.9)
    np.testing.assert_array_equal(flagged, above & (score > gate))
    centred = pd.Series(default["score"]).rolling(9, center=True, min_periods=1).mean().to_numpy()
    np.testing.assert_allclose(smoothed[30:-5], centred[30:-5], rtol=1e-12)  # past the warm-up's missing scores
    # the shift (rows 450-520): all of it above the threshold and reported as one event, where the false-alarm
    # threshold misses rows of it and breaks it into pieces
    assert above[450:520].all() and false_alarm["is_anomaly"].to_numpy()[450:520].mean() < 1
    events = pd.read_csv(tmp_path / "default_events.csv", parse_dates=["start", "end"])
    stamps = pd.to_datetime(default["timestamp"])
    during = events[(events["end"] >= stamps[450]) & (events["start"] <= stamps[519])]
    assert len(during) == 1 and flagged[450:520].any()
    assert (np.diff(false_alarm["is_anomaly"].to_numpy()[440:530].astype(int)) == 1).sum() > 1


def test_tsseq_detect_refuses_it_in_causal_mode(shifted_csv, tmp_path, capsys) -> None:
    from tsseq.cli import main

    code = main(["detect", str(shifted_csv), "--detector", "ar_residual", "--window", "24", "--threshold",
                 "transductive", "--output", str(tmp_path / "out.csv")])  # fmt: skip
    assert code != 0
    assert "not causal" in capsys.readouterr().err


def test_the_auto_detector_refuses_it_when_causal_and_names_it_in_its_report() -> None:
    from tsseq.anomaly.auto import AutoDetector

    frame = _series()
    members = ["ar_residual"]
    with pytest.raises(ConfigError, match="not causal"):
        AutoDetector(members=members, window_length=24, threshold="transductive").fit(frame.iloc[:300])
    detector = AutoDetector(members=members, window_length=24, threshold="transductive", causal=False,
                            aggregation="mean").fit(frame.iloc[:300])
    assert "a split (otsu) of the scored rows' combined scores" in detector.report()
    flags = detector.detect(frame)["is_anomaly"].to_numpy()
    assert flags[450:520].mean() > 0.5


def test_centred_smooth_known_answers() -> None:
    from tsseq.anomaly.thresholds import centred_smooth

    spike = np.array([0.0, 0.0, 9.0, 0.0, 0.0])
    np.testing.assert_allclose(centred_smooth(spike, 3), [0.0, 3.0, 3.0, 3.0, 0.0])
    np.testing.assert_allclose(centred_smooth(np.array([3.0, 0.0, 0.0]), 3), [1.5, 1.0, 0.0])  # fewer rows at the ends
    np.testing.assert_allclose(centred_smooth(np.array([0.0, 4.0, 8.0, 0.0]), 4), [4.0, 3.0, 4.0, 4.0])  # rows t-1..t+2
    with_nan = centred_smooth(np.array([np.nan, 3.0, 0.0, 0.0]), 3)
    assert np.isnan(with_nan[0])  # a missing score stays missing and takes no weight
    np.testing.assert_allclose(with_nan[1:], [1.5, 1.0, 0.0])
    medians = centred_smooth(np.array([0.0, 9.0, 0.0, 9.0, 9.0]), 3, "median")
    np.testing.assert_allclose(medians, [4.5, 0.0, 9.0, 9.0, 9.0])
    assert centred_smooth(spike, 1) is not spike and np.array_equal(centred_smooth(spike, 1), spike)
    with pytest.raises(ConfigError, match="how must be one of mean, median"):
        centred_smooth(spike, 3, "mode")


def test_smoothing_flags_a_collective_anomaly_whose_single_scores_look_normal() -> None:
    # 300 rows whose scores are drawn like the normal ones but three times as large: many of
    # them, one by one, lie under the floor (and under any split); averaged with their
    # neighbours they stand apart, and the default (a centred mean of 9 rows) flags the run.
    rng = np.random.default_rng(3)
    scores = rng.lognormal(0.0, 0.5, 3000)
    scores[1500:1800] *= 3.0
    labels = np.zeros(3000, dtype=bool)
    labels[1500:1800] = True
    raw = TransductiveThresholder(smoothing=1).fit(NORMAL)
    raw_flags = raw.predict(scores)
    # the smoothing alone (the gates: test_adaptive_threshold.py, test_brief_gate.py)
    smoothed = TransductiveThresholder(gate=None, brief_gate=None).fit(NORMAL)
    flags = smoothed.predict(scores)
    assert smoothed.smoothing == 9 and smoothed.accepted_
    assert flags[labels].mean() > 0.95 > 0.7 > raw_flags[labels].mean()
    assert flags[~labels].mean() < 0.03  # about the floor's 1% of normal rows, in clumps of neighbours
    compared = smoothed.smooth(scores)
    assert np.array_equal(flags, compared > smoothed.threshold_)


def test_a_value_column_named_like_an_output_column_is_refused(shifted_csv, tmp_path, capsys) -> None:
    from tsseq.cli import main

    frame = pd.read_csv(shifted_csv).rename(columns={"value": "smoothed_score"})
    path = tmp_path / "clash.csv"
    frame.to_csv(path, index=False)
    code = main(["detect", str(path), "--detector", "ar_residual", "--window", "24", "--mode", "batch",
                 "--train-rows", "300", "--output", str(tmp_path / "out.csv")])  # fmt: skip
    assert code == 2
    assert "['smoothed_score'] clash with the output columns" in capsys.readouterr().err
    assert not (tmp_path / "out.csv").exists()


def test_tsseq_detect_says_when_the_batch_split_raised_the_threshold(tmp_path, capsys) -> None:
    from tsseq.cli import main

    frame = _series(shift=0.0)
    frame.iloc[450:460, 0] += 6.0  # ten rows far above every training row's score
    frame.index.name = "timestamp"
    path = tmp_path / "spike.csv"
    frame.to_csv(path)
    runs, said = {}, {}
    for name, extra in (("default", []), ("floor", ["--threshold-param", "raise_excess=null"])):
        output = tmp_path / f"{name}.csv"
        code = main(["detect", str(path), "--detector", "ar_residual", "--window", "24", "--mode", "batch",
                     "--train-rows", "300", *extra, "--output", str(output)])  # fmt: skip
        said[name] = " ".join(capsys.readouterr().err.split())
        assert code == 0, said[name]
        runs[name] = pd.read_csv(output)
    raised, floor = runs["default"]["threshold"].dropna(), runs["floor"]["threshold"].dropna()
    assert (raised == raised.iloc[0]).all() and (floor == floor.iloc[0]).all() and raised.iloc[0] > floor.iloc[0]
    assert f"raised it above its floor {floor.iloc[0]:.4g} to {raised.iloc[0]:.4g}" in said["default"]
    assert "raise_excess=null keeps the floor" in said["default"] and "raised it" not in said["floor"]
    flags, floor_flags = runs["default"]["is_anomaly"].to_numpy(), runs["floor"]["is_anomaly"].to_numpy()
    assert flags[450:460].all() and floor_flags[450:460].all()
    assert not (flags & ~floor_flags).any() and flags.sum() <= floor_flags.sum()  # a raise only unflags


@pytest.mark.parametrize(
    ("mode", "param", "says"),
    [("causal", "raise_excess=null", "belong to the batch mode's default threshold ('transductive', --mode batch)"),
     ("batch", "warmup=50", "belong to the causal mode's default threshold ('adaptive', --mode causal)")],
)
def test_a_parameter_of_the_other_modes_default_threshold_is_refused_with_the_mode(
    shifted_csv, tmp_path, capsys, mode: str, param: str, says: str
) -> None:
    from tsseq.cli import main

    output = tmp_path / "out.csv"
    code = main(["detect", str(shifted_csv), "--detector", "ar_residual", "--window", "24", "--mode", mode,
                 "--train-rows", "300", "--threshold-param", param, "--output", str(output)])  # fmt: skip
    assert code == 2
    assert says in " ".join(capsys.readouterr().err.split())
    assert not output.exists()
