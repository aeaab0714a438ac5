"""Interval detectors: tail probabilities (known answers), channel combination, causality, spikes, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import combine_pvalues, norm
from scipy.stats import t as student_t
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

from tsseq.anomaly.detectors import make_detector
from tsseq.anomaly.interval import IntervalDetector
from tsseq.anomaly.online_interval import OnlineIntervalDetector
from tsseq.anomaly.tails import (
    GRID_LEVELS,
    TailScorer,
    combine_channel_scores,
    normal_tail_score,
    quantile_z,
    student_t_tail_score,
    tail_probability,
)
from tsseq.data.synthetic import generate
from tsseq.errors import ConfigError, DataError

TINY_NEURAL = {"epochs": 2, "batch_size": 64, "progress": False, "seed": 0}


def ar1(rows: int, seed: int, channels: int = 1, phi: float = 0.6) -> pd.DataFrame:
    """A Gaussian AR(1) series: the predictive distributions of the detectors are right for it."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((rows, channels))
    values = np.zeros((rows, channels))
    for t in range(1, rows):
        values[t] = phi * values[t - 1] + noise[t]
    index = pd.date_range("2021-01-01", periods=rows, freq="h")
    return pd.DataFrame(values + 5.0, index=index, columns=[f"c{i}" for i in range(channels)])


# ---------------------------------------------------------------- tail probabilities
def test_a_value_three_standard_deviations_out_has_tail_probability_0027() -> None:
    mean, sd = 10.0, 2.0
    observed = mean + 3 * sd
    p = tail_probability(normal_tail_score((observed - mean) / sd))
    assert p == pytest.approx(0.0027, abs=5e-5) and p == pytest.approx(2 * norm.sf(3), rel=1e-12)
    # The same answer read from the Gaussian's quantiles, on and between the grid's levels.
    quantiles = mean + sd * norm.ppf(GRID_LEVELS)
    for z in (3.0, 3.3, -1.7, 0.0):
        read = quantile_z(np.array(mean + z * sd), quantiles, GRID_LEVELS)
        assert read == pytest.approx(z, abs=1e-9)
    assert tail_probability(normal_tail_score(quantile_z(np.array(observed), quantiles, GRID_LEVELS))) == pytest.approx(
        2 * norm.sf(3), rel=1e-9
    )


def test_tails_beyond_the_outermost_quantiles_extend_or_clip() -> None:
    levels = np.array([0.025, 0.25, 0.5, 0.75, 0.975])
    quantiles = 1.0 + 0.5 * norm.ppf(levels)  # N(1, 0.5^2)
    far = np.array(1.0 + 0.5 * 8)  # 8 sd out
    assert quantile_z(far, quantiles, levels, "gaussian") == pytest.approx(8.0)  # exact for a Gaussian
    clipped = quantile_z(far, quantiles, levels, "clip")
    assert clipped == pytest.approx(norm.ppf(0.975))
    assert tail_probability(normal_tail_score(clipped)) == pytest.approx(0.05)  # the most a 95% interval can say


def test_scores_stay_finite_far_out_and_at_a_point_mass() -> None:
    assert normal_tail_score(np.array([0.0]))[0] == pytest.approx(0.0, abs=1e-15)
    assert normal_tail_score(np.array([50.0]))[0] == pytest.approx(-(np.log(2) + norm.logsf(50.0)) / np.log(10), rel=1e-9)
    assert np.isfinite(normal_tail_score(np.array([1e6]))).all()  # p underflows; its log does not
    mass = np.full((3, 5), 2.0)
    z = quantile_z(np.array([2.0, 2.5, 1.5]), mass, np.array([0.1, 0.3, 0.5, 0.7, 0.9]))
    assert z[0] == 0.0 and z[1] > 1e6 and z[2] < -1e6


def test_student_t_tail_score_matches_scipy() -> None:
    u = np.array([0.5, 3.0, 12.0])
    np.testing.assert_allclose(tail_probability(student_t_tail_score(u, 4.0)), 2 * student_t.sf(u, 4.0), rtol=1e-10)


# ---------------------------------------------------------------- channel combination
def test_channel_combinations_match_their_definitions() -> None:
    p = np.array([[0.01, 0.2, 0.5], [1e-30, 0.5, 0.9], [1.0, 1.0, 1.0]])
    scores = -np.log10(p)
    fisher = tail_probability(combine_channel_scores(scores, "fisher"))
    np.testing.assert_allclose(fisher, [combine_pvalues(row, method="fisher")[1] for row in p], rtol=1e-9)
    sidak = tail_probability(combine_channel_scores(scores, "sidak"))
    with np.errstate(divide="ignore"):
        expected = -np.expm1(3 * np.log1p(-p.min(axis=1)))  # 1 - (1 - p)^3, exact for tiny p
    np.testing.assert_allclose(sidak, expected, rtol=1e-9)
    bonferroni = tail_probability(combine_channel_scores(scores, "bonferroni"))
    np.testing.assert_allclose(bonferroni, np.minimum(3 * p.min(axis=1), 1.0), rtol=1e-12)
    for method in ("sidak", "bonferroni", "fisher"):  # one channel: unchanged; p = 0 stays p = 0
        np.testing.assert_allclose(combine_channel_scores(scores[:, :1], method), scores[:, 0], rtol=1e-12)
        assert combine_channel_scores(np.array([np.inf, 1.0]), method) == np.inf


def test_unobserved_channels_are_left_out_of_the_combination() -> None:
    scores = np.array([[2.0, np.nan], [np.nan, np.nan]])
    combined = combine_channel_scores(scores, "sidak")
    assert combined[0] == pytest.approx(2.0) and np.isnan(combined[1])
    assert TailScorer("fisher").score(scores[:1])[0] == pytest.approx(2.0)
    with pytest.raises(ConfigError, match="Did you mean 'fisher'"):
        TailScorer("fischer")


# ---------------------------------------------------------------- IntervalDetector
def test_interval_detector_reads_the_forecasters_gaussian_interval() -> None:
    frame = ar1(500, seed=1)
    for k in (1, 3):
        detector = IntervalDetector(window_length=16, steps_ahead=k, threshold=None).fit(frame.iloc[:300])
        scores = detector.channel_scores(frame)["c0"]
        assert scores.iloc[: 16 + k - 1].isna().all() and scores.iloc[16 + k - 1 :].notna().all()
        # Expected: the k-step forecast and its sd, from the forecaster's own 1-sigma quantiles.
        scaled = detector._scaled(frame).to_numpy()
        inputs = np.lib.stride_tricks.sliding_window_view(scaled[: len(scaled) - k], 16, axis=0).transpose(0, 2, 1)
        q = detector.forecaster_.predict_windows(np.ascontiguousarray(inputs), k, quantiles=[norm.cdf(-1), 0.5, norm.cdf(1)])
        mean, sd = q[:, k - 1, 0, 1], (q[:, k - 1, 0, 2] - q[:, k - 1, 0, 0]) / 2
        expected = -np.log10(2 * norm.sf(np.abs(scaled[16 + k - 1 :, 0] - mean) / sd))
        np.testing.assert_allclose(scores.iloc[16 + k - 1 :].to_numpy(), expected, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", ["interval", "online_interval"])
def test_scores_are_calibrated_on_a_series_the_model_fits(name: str) -> None:
    """Gaussian AR(1) data: p is about uniform, so P(score >= 2) = 1% and mean score = 1/ln 10."""
    frame = ar1(6000, seed=2)
    if name == "interval":
        scores = make_detector(name, window_length=8, threshold=None).fit(frame.iloc[:2000]).score(frame.iloc[2000:])
    else:
        scores = make_detector(name, seasonal_period=None, order=4).stream(frame, train_rows=2000).iloc[2000:]
    scores = scores.dropna().to_numpy()
    assert (scores >= 2).mean() == pytest.approx(0.01, abs=0.006)
    assert (scores >= 1).mean() == pytest.approx(0.1, abs=0.02)
    assert scores.mean() == pytest.approx(1 / np.log(10), abs=0.04)


@pytest.fixture(scope="module")
def spiky():
    """600 hourly rows, 3 channels; 6 spikes of 5 std after the clean training rows."""
    return generate(600, channels=3, anomalies={"spike": 6}, magnitude=5.0, clean_start=320, seed=3)


def _auc(series, scores: pd.Series) -> float:
    labels = series.labels.any(axis=1).reindex(scores.index).to_numpy()
    finite = scores.notna().to_numpy()
    return roc_auc_score(labels[finite], scores.to_numpy()[finite])


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"combine": "fisher", "steps_ahead": 2},
        {"forecaster": "lstm", "forecaster_params": {"hidden_size": 8, "training": {**TINY_NEURAL, "loss": "normal"}}},
        {"forecaster": "gru", "forecaster_params": {"hidden_size": 8, "training": {**TINY_NEURAL, "loss": "quantile"}}},
        {"forecaster": "conformal", "forecaster_params": {"model": "ar"}},
    ],
    ids=["ar", "ar_fisher_2_steps", "lstm_normal", "gru_quantile", "conformal_ar"],
)
def test_interval_detector_flags_injected_spikes(spiky, params: dict) -> None:
    detector = make_detector("interval", window_length=16, threshold="quantile", threshold_params={"q": 0.99}, **params)
    result = detector.fit(spiky.frame.iloc[:300]).detect(spiky.frame)
    assert result.attrs["causal"] is True
    assert _auc(spiky, result["score"].iloc[300:]) > 0.97
    spikes = np.flatnonzero(spiky.labels.any(axis=1).to_numpy())
    assert result["is_anomaly"].iloc[spikes].mean() >= 5 / 6
    if params.get("forecaster") == "gru":  # a quantile-trained model is read at its own levels
        assert list(detector.levels_) == list(detector.forecaster_.output_distribution().levels)
    if params.get("forecaster") == "conformal":  # too few calibration scores for Phi(-6): the grid narrows
        assert detector.levels_.min() > 0.02 and len(detector.levels_) >= 9


def test_per_channel_scores_show_which_channel_and_combine_to_the_score(spiky) -> None:
    detector = make_detector("interval", window_length=16, threshold=None).fit(spiky.frame.iloc[:300])
    channels = detector.channel_scores(spiky.frame)
    assert list(channels.columns) == list(spiky.frame.columns)
    np.testing.assert_allclose(
        detector.score(spiky.frame).to_numpy(), combine_channel_scores(channels.to_numpy(), "sidak"), equal_nan=True
    )
    for row in np.flatnonzero(spiky.labels.any(axis=1).to_numpy()):
        hit = spiky.labels.iloc[row].to_numpy()
        assert channels.iloc[row].to_numpy().argmax() in np.flatnonzero(hit)


def test_interval_detector_clear_errors() -> None:
    frame = ar1(300, seed=0)
    with pytest.raises(ConfigError, match=r"point forecasts only.*'loss': 'normal'.*'conformal'.*forecast_residual"):
        make_detector("interval", forecaster="lstm", window_length=16).fit(frame)
    with pytest.raises(ConfigError, match="'steps_ahead' parameter must be an int >= 1"):
        make_detector("interval", steps_ahead=0).fit(frame)
    with pytest.raises(ConfigError, match="Did you mean 'gaussian'"):
        make_detector("interval", tail="gausian").fit(frame)
    with pytest.raises(ConfigError, match="'combine' parameter"):
        make_detector("interval", combine="mean").fit(frame)
    with pytest.raises(ConfigError, match="at least 2 quantile levels"):
        make_detector("interval", levels=[0.5]).fit(frame)
    quantile_model = {"hidden_size": 4, "training": {**TINY_NEURAL, "epochs": 1, "loss": "quantile"}}
    with pytest.raises(ConfigError, match="levels outside"):  # the model's own error, naming the fix
        make_detector("interval", forecaster="gru", forecaster_params=quantile_model, window_length=16,
                      levels=[0.001, 0.5, 0.999]).fit(frame)  # fmt: skip
    with pytest.raises(DataError, match="too short"):
        make_detector("interval", window_length=16, threshold=None).fit(frame).score(frame.iloc[:16])
    detector = make_detector("interval", levels=[0.1, 0.5, 0.9], combine="fisher")
    assert clone(detector).get_params() == detector.get_params()


# ---------------------------------------------------------------- OnlineIntervalDetector
def seasonal(rows: int = 1500, seed: int = 0, channels: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(rows)[:, None]
    values = 10 + 3 * np.sin(2 * np.pi * t / 24 + np.arange(channels)) + 0.3 * rng.standard_normal((rows, channels))
    return pd.DataFrame(values, index=pd.date_range("2020-01-01", periods=rows, freq="h"),
                        columns=[f"c{i}" for i in range(channels)])  # fmt: skip


def test_online_interval_flags_a_spike_inside_the_seen_range() -> None:
    y = seasonal(1200)["c0"]
    y.iloc[800] += 2.5  # about 8 noise sd, yet inside the range of the seasonal cycle
    detector = make_detector("online_interval").fit(y.iloc[:300])
    assert detector.threshold_ == 5.0 and detector.causal is True
    result = detector.detect(y.iloc[300:])
    assert list(np.flatnonzero(result["is_anomaly"])) == [500]
    assert result["score"].idxmax() == y.index[800]


def test_online_interval_scores_up_to_t_ignore_later_rows_per_channel_too() -> None:
    frame = seasonal(900, channels=2)
    t = 600
    changed = frame.copy()
    changed.iloc[t + 1 :] += np.random.default_rng(1).normal(0, 30, changed.iloc[t + 1 :].shape)
    detector = OnlineIntervalDetector(suppression=0.1)
    original, perturbed = detector.stream(frame, train_rows=300), detector.stream(changed, train_rows=300)
    np.testing.assert_array_equal(original.iloc[: t + 1].to_numpy(), perturbed.iloc[: t + 1].to_numpy())
    assert not np.allclose(original.iloc[t + 1 :], perturbed.iloc[t + 1 :])
    fitted = clone(detector).fit(frame.iloc[:300])
    left, right = fitted.channel_scores(frame.iloc[300:]), fitted.channel_scores(changed.iloc[300:])
    np.testing.assert_array_equal(left.iloc[: t + 1 - 300].to_numpy(), right.iloc[: t + 1 - 300].to_numpy())


def test_online_interval_multivariate_combination_and_channel_scores() -> None:
    frame = seasonal(1000, channels=3)
    frame.iloc[700, 1] += 3.0
    detector = OnlineIntervalDetector(combine="bonferroni").fit(frame.iloc[:300])
    channels = detector.channel_scores(frame.iloc[300:])
    scores = detector.score(frame.iloc[300:])
    np.testing.assert_allclose(scores.to_numpy(), combine_channel_scores(channels.to_numpy(), "bonferroni"))
    assert channels.iloc[400].idxmax() == "c1" and scores.idxmax() == frame.index[700]
    with pytest.raises(DataError, match="columns"):
        detector.score(frame.iloc[300:, :2])


def test_online_interval_update_in_chunks_equals_one_call() -> None:
    y = seasonal(1500)
    detector = OnlineIntervalDetector(suppression=0.05).fit(y.iloc[:400])
    whole = detector.score(y.iloc[400:])
    chunks = [detector.update(y.iloc[a:b]) for a, b in ((400, 900), (900, 901), (901, 1500))]
    assert detector.state_.seen == 1500
    np.testing.assert_allclose(pd.concat(chunks).to_numpy(), whole.to_numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("scale", ["squared", "absolute"])
def test_online_interval_student_t_reorders_nothing_and_scores_lower_in_the_tail(scale: str) -> None:
    y = seasonal(1200)
    normal = OnlineIntervalDetector(scale=scale).stream(y, train_rows=300).iloc[300:]
    heavy = OnlineIntervalDetector(scale=scale, distribution="student_t", df=4).stream(y, train_rows=300).iloc[300:]
    np.testing.assert_array_equal(np.argsort(normal.to_numpy(), kind="stable"), np.argsort(heavy.to_numpy(), kind="stable"))
    assert heavy.max() < normal.max()


def test_online_interval_clear_errors() -> None:
    y = seasonal(400)
    with pytest.raises(ConfigError, match="causal only"):
        OnlineIntervalDetector(causal=False).fit(y)
    with pytest.raises(ConfigError, match="'df' parameter must be a number > 2"):
        OnlineIntervalDetector(distribution="student_t", df=2).fit(y)
    with pytest.raises(ConfigError, match="Did you mean 'squared'"):
        OnlineIntervalDetector(scale="squard").fit(y)
    with pytest.raises(ConfigError, match="'alarm_level' parameter must be > 0"):
        OnlineIntervalDetector(alarm_level=0).fit(y)
    broken = y.copy()
    broken.iloc[350, 0] = np.inf
    with pytest.raises(DataError, match=r"row 50 .* column 'c0' has the non-finite value inf"):
        OnlineIntervalDetector().fit(y.iloc[:300]).score(broken.iloc[300:])


# ---------------------------------------------------------------- CLI and job files
@pytest.fixture()
def spiky_csv(tmp_path):
    frame = generate(600, seed=3).frame
    frame.iloc[420, 0] += 3.0
    frame.index.name = "timestamp"
    path = tmp_path / "sensor.csv"
    frame.to_csv(path)
    return path


@pytest.mark.parametrize("detector", ["online_interval", "interval"])
def test_tsseq_detect_runs_the_interval_detectors(spiky_csv, tmp_path, capsys, detector: str) -> None:
    from tsseq.cli import main

    output = tmp_path / "scores.csv"
    extra = ["--window", "24", "--threshold", "ksigma", "--threshold-param", "k=6"] if detector == "interval" else []
    code = main(["detect", str(spiky_csv), "--detector", detector, *extra, "--output", str(output)])
    assert code == 0, capsys.readouterr().err
    table = pd.read_csv(output)
    assert list(table.columns) == ["timestamp", "channel_0", "score", "threshold", "is_anomaly", "contribution_channel_0"]
    assert table["score"].iloc[:180].isna().all() and table["score"].idxmax() == 420
    assert table["is_anomaly"].iloc[420]


def test_tsseq_detect_job_file_and_the_point_forecaster_error(spiky_csv, tmp_path, capsys) -> None:
    from tsseq.cli import main

    job = tmp_path / "job.yaml"
    job.write_text(
        f"name: sensor\ndata: {{csv: {spiky_csv.name}}}\n"
        "detector: {name: online_interval, params: {combine: fisher, scale: absolute}}\n"
        "output: {directory: out, csv: scores.csv}\n"
    )
    assert main(["detect", "--config", str(job), "--output", str(tmp_path / "job_scores.csv")]) == 0
    assert pd.read_csv(tmp_path / "job_scores.csv")["score"].idxmax() == 420
    code = main(["detect", str(spiky_csv), "--detector", "interval", "--param", "forecaster=lstm",
                 "--output", str(tmp_path / "never.csv")])  # fmt: skip
    assert code == 2
    assert "point forecasts only" in capsys.readouterr().err and not (tmp_path / "never.csv").exists()
    code = main(["detect", str(spiky_csv), "--detector", "online_interval", "--window", "24",
                 "--output", str(tmp_path / "never.csv")])  # fmt: skip
    assert code == 2 and "has no window" in capsys.readouterr().err


def test_online_interval_replayed_and_fed_live_give_the_same_scores() -> None:
    from tsseq.anomaly.streaming import OnlineDetector, score_stream

    frame = seasonal(900, channels=2)
    frame.iloc[700, 0] += 3.0
    detector = OnlineIntervalDetector(suppression=0.1)
    replay = score_stream(detector, frame, train_rows=300).frame
    np.testing.assert_array_equal(replay["score"].to_numpy(), detector.stream(frame, train_rows=300).to_numpy())
    assert list(np.flatnonzero(replay["is_anomaly"])) == [700] and (replay["threshold"].iloc[300:] == 5.0).all()
    online = OnlineDetector(detector.fit(frame.iloc[:300]))
    updates = [online.update(row) for row in frame.iloc[300:].to_numpy()]
    np.testing.assert_allclose([score for score, _ in updates], replay["score"].iloc[300:], rtol=1e-9, atol=1e-12)
    assert [i for i, (_, flag) in enumerate(updates) if flag] == [400]


def test_a_var_forecaster_leaves_unrelated_channels_out_unless_told_otherwise() -> None:
    # The tenth study: a VAR's intervals with the screen (tsseq.var, cross_screen) and shrinkage by default.
    frame = ar1(600, seed=0, channels=12)  # independent channels
    off_diagonal = ~np.eye(12, dtype=bool)
    screened = make_detector("interval", forecaster="var", window_length=16).fit(frame)
    assert screened.forecaster_.cross_screen == 0.01 and screened.forecaster_.cross_penalty == "gcv"
    assert screened.forecaster_.cross_related_[0][off_diagonal].mean() < 0.05  # seeds 0-3: none related
    assert screened.forecaster_params is None  # the preset is applied at fit, not written into the parameters
    capped = make_detector("interval", forecaster="var", forecaster_params={"max_order": 2}, window_length=16).fit(frame)
    assert capped.forecaster_.max_order == 2 and capped.forecaster_.cross_screen == 0.01  # key by key
    plain = make_detector("interval", forecaster="var", forecaster_params={"cross_screen": None, "cross_penalty": None},
                          window_length=16).fit(frame)  # fmt: skip
    assert plain.forecaster_.cross_related_.all() and plain.forecaster_.cross_penalty is None
    assert "cross_screen" not in make_detector("interval", window_length=16).fit(frame).forecaster_.get_params()  # AR


@pytest.mark.parametrize("forecaster", ["ar", "var"])
def test_a_channel_constant_in_training_scores_a_later_move_finite_and_sized_not_1e16(forecaster: str, stuck_sensor) -> None:
    # A stuck sensor (b) is forecast exactly, so its predictive distribution was a point mass and a move of half a
    # unit scored -log10 p = 1.4e16; its spread is floored at CONSTANT_CHANNEL_SPREAD, the varying channel untouched.
    frame = stuck_sensor
    with pytest.warns(UserWarning, match=r"constant in the training data \(b\)"):
        detector = make_detector("interval", forecaster=forecaster, window_length=48).fit(frame.iloc[:750])
    np.testing.assert_array_equal(detector.spread_floor_, [0.0, 0.1])
    channels = detector.channel_scores(frame)
    moved = channels["b"].iloc[1200:]
    np.testing.assert_allclose(moved, normal_tail_score(np.array(0.5 / 0.1)), rtol=1e-9)  # z = 5: p = 6e-7
    assert (channels["b"].iloc[48:1200] == 0).all()  # rounding before the move, as without the floor
    assert detector.predict(frame).iloc[1200:].all()
    unfloored = clone(detector)
    unfloored.__dict__.update({**detector.__dict__, "spread_floor_": np.zeros(2)})
    np.testing.assert_array_equal(unfloored.channel_scores(frame)["a"], channels["a"])  # bit for bit
    assert unfloored.channel_scores(frame)["b"].iloc[1200:].min() > 1e15  # what the floor prevents
