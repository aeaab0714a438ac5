"""The auto detector: a common scale for its members, never the worst family, the default of `tsseq detect`."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tsseq.anomaly.auto import AutoDetector, TailNormaliser
from tsseq.anomaly.config import DetectorConfig
from tsseq.anomaly.detectors import DETECTORS, contribution_columns, make_detector
from tsseq.anomaly.metrics import pr_auc
from tsseq.anomaly.streaming import score_stream
from tsseq.cli import main
from tsseq.data.plant import PLANT_ANOMALY_KINDS, generate_plant
from tsseq.errors import ConfigError

TINY = {"epochs": 3, "batch_size": 64, "seed": 0, "progress": False, "threads": 1}


@pytest.fixture(scope="module")
def streamed():
    plant = generate_plant(2400, clean_start=1000, seed=0)
    detector = make_detector("auto", window_length=32, training=TINY)
    return plant, score_stream(detector, plant.frame, train_rows=1000, contributions=True)


def test_normalisation_puts_scores_of_any_scale_on_one_scale_known_answer() -> None:
    # Exponential scores of scale b: P(S > s) = exp(-s / b), so g(s) = s / (b ln 10) and the
    # 0.99 quantile b ln 100 maps to 2 (a 1% tail), whatever b.
    rng = np.random.default_rng(0)
    for scale in (0.01, 1.0, 300.0):
        normaliser = TailNormaliser(tail_fraction=0.1).fit(rng.exponential(scale, 20_000))
        quantiles = scale * np.log([10.0, 100.0, 1e4])  # the 0.9, 0.99 and 0.9999 quantiles
        np.testing.assert_allclose(normaliser.transform(quantiles), [1.0, 2.0, 4.0], rtol=0.03)
    # Gaussian and exponential members agree on how rare a value is, not on its size.
    gaussian = TailNormaliser().fit(rng.normal(5.0, 2.0, 20_000))
    assert abs(gaussian.transform(5.0 + 2.0 * 2.3263) - 2.0) < 0.06  # the 0.99 quantile
    assert np.isnan(gaussian.transform(np.nan)) and np.all(np.diff(gaussian.transform(np.linspace(-5, 40, 500))) >= 0)


def test_a_series_constant_in_its_training_rows_is_flagged_where_it_moves_not_refused(tmp_path: Path) -> None:
    # Every member scores zero on the training rows: the normalisers' tail scale must stay positive, so that a
    # later departure scores high and finite (it scored infinite, and tsseq detect wrote nothing).
    assert np.isfinite(TailNormaliser().fit(np.zeros(90)).transform([0.0, 1e-3, 10.0])).all()
    # ... and sized: a tail scale of 1e-3 of a unit, not 1e-12 (a move of half a unit scored 2e11).
    flat = TailNormaliser().fit(np.zeros(90))
    assert flat.beta_ == 1e-3 and 200 < flat.transform(0.5) < 250
    rng = np.random.default_rng(0)
    values = np.r_[np.full(450, 5.0), 5.0 + rng.normal(0, 0.5, 150)]
    frame = pd.DataFrame({"y": values}, index=pd.date_range("2024-01-01", periods=600, freq="h"))
    data, output = tmp_path / "idle_then_busy.csv", tmp_path / "scores.csv"
    frame.to_csv(data)
    with pytest.warns(UserWarning, match="constant in the training data"):
        code = main(["detect", str(data), "--param", "training={epochs: 2, progress: false}", "--threads", "1",
                     "--output", str(output)])  # fmt: skip
    assert code == 0
    table = pd.read_csv(output)
    assert np.isfinite(table["score"].iloc[450:]).all() and table["is_anomaly"].iloc[450:].all()
    assert not table["is_anomaly"].iloc[:450].any()
    assert table["score"].max() < 1e6  # 1e19 and more before the interval member's and the normalisers' floors


def test_a_channel_constant_in_training_that_moves_scores_on_the_other_channels_scale_not_1e16(stuck_sensor) -> None:
    # A stuck sensor beside a varying one: the interval member gave its move -log10 p = 1.4e16, and auto wrote
    # scores and contributions of 1.6e16 against a threshold of about 1; the flags were right and still are.
    frame = stuck_sensor
    with pytest.warns(UserWarning, match="constant in the training data"):
        detector = make_detector("auto", window_length=48, training=TINY).fit(frame.iloc[:750])
    scores, parts = detector.raw_scores_and_contributions(frame)
    assert 3 < np.nanmax(scores) < 30 and np.nanmax(parts[:, 1]) < 30
    assert (scores[1200:] > detector.threshold_).all()


def test_a_constant_channel_is_warned_of_once_by_its_column_name_not_once_per_member() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"load": rng.normal(size=300), "spare": np.zeros(300)},
                         index=pd.date_range("2024-01-01", periods=300, freq="h"))  # fmt: skip
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        make_detector("auto", window_length=16, training=TINY).fit(frame)
    constant = [str(w.message) for w in caught if "constant in the training data" in str(w.message)]
    assert constant == [
        "auto: fit of its members: 1 channel(s) are constant in the training data (spare); using scale 1 for them "
        "instead of dividing by zero."
    ]


def test_members_are_on_one_scale_on_normal_rows(streamed) -> None:
    _, result = streamed
    auto = result.detector
    for (label, detector), normaliser in zip(auto.members_, auto.normalisers_):
        g = normaliser.transform(detector.validation_scores_)
        assert abs(np.mean(g > 1.0) - 0.1) <= 0.03, label  # a 10% tail above 1, for every member (200 rows)
        assert abs(np.nanmedian(g) - math.log10(2)) < 0.05, label  # the median at P(S > s) = 1/2


def test_auto_is_registered_and_the_default(streamed) -> None:
    assert DETECTORS["auto"][0] is AutoDetector
    assert DetectorConfig().name == "auto"
    _, result = streamed
    assert [label for label, _ in result.detector.members_] == ["lstm_ae", "var_residual", "interval"]
    assert result.detector.members_[2][1].forecaster == "var"  # the forecasting members read every channel
    assert result.detector.members_[0][1].centre_windows == "multichannel"  # the plant has five
    for _, member in result.detector.members_[1:]:  # their VAR screened and shrunk (eighth and twelfth studies)
        assert member.forecaster_params == {"cross_penalty": "gcv", "cross_screen": 0.01}
        assert member.forecaster_.cross_penalty_.shape == (1, 5) and np.isfinite(member.forecaster_.cross_penalty_).all()
        assert member.forecaster_.cross_related_.shape == (1, 5, 5)
    for _, member in result.detector.members_[:2]:  # a row scored by its largest channel error (twelfth study)
        assert member.scorer_.reduction == "max"


def test_on_one_channel_the_members_score_as_before_the_eighth_and_twelfth_studies() -> None:
    # No other channel: no cross term to screen or shrink, and the largest channel error is the mean. auto's
    # univariate scores are those of its least-squares members with the channels' mean (and, since the fifteenth
    # study, the lag filter on the forecasting ones).
    frame = generate_plant(1400, clean_start=1000, seed=2, anomalies={"spike": 3, "shift": 1}).frame[["flow"]]
    plain_var = {"forecaster_params": {"cross_penalty": None, "cross_screen": None}, "lag_clip": 3.0}
    mean = {"scorer_params": {"reduction": "mean"}}
    least_squares = [{"name": "lstm_ae", "params": {"centre_windows": "multichannel", **mean}},
                     {"name": "var_residual", "params": {**plain_var, **mean}},
                     {"name": "interval", "params": {"forecaster": "var", **plain_var}}]  # fmt: skip
    scores = [
        make_detector("auto", window_length=32, training=TINY, members=members).fit(frame.iloc[:1000]).score(frame)
        for members in (None, least_squares)
    ]
    np.testing.assert_array_equal(scores[0].to_numpy(), scores[1].to_numpy())


def test_the_forecasting_members_lags_are_cleaned_on_one_channel_only() -> None:
    plant = generate_plant(1400, clean_start=1000, seed=2, anomalies={"spike": 3, "shift": 1}).frame
    for frame, filtered in ((plant[["flow"]], True), (plant, False)):
        detector = make_detector("auto", window_length=32, training=TINY).fit(frame.iloc[:1000])
        members = dict(detector.members_)
        for name in ("var_residual", "interval"):
            assert (members[name].lag_scale_ is not None) is filtered
            assert members[name].context_rows() == (64 if filtered else 32)
        assert ("its lags cleaned (lag_clip=3, runs over 2 let in)" in detector.report()) is filtered


def test_auto_says_what_it_combined(streamed) -> None:
    _, result = streamed
    report = result.detector.report()
    for words in ("max of 3 normalised scores", "lstm_ae (ReconstructionDetector on centred windows",
                  "var_residual (ForecastResidualDetector of 'var' (cross_penalty='gcv', cross_screen=0.01), "
                  "its fitted rows' errors divided by 1 - df/n for the threshold, absolute error, its largest channel",
                  "interval (IntervalDetector of 'var'", "-log10 P(S > s)",
                  "0.99 quantile", "threshold"):  # fmt: skip
        assert words in report, report


def test_auto_contributions_sum_to_its_score_and_name_the_fault(streamed) -> None:
    plant, result = streamed
    frame = result.frame
    parts = frame[contribution_columns(plant.frame.columns)]
    np.testing.assert_allclose(parts.sum(axis=1, min_count=1), frame["score"], rtol=1e-10, atol=1e-12)
    spikes = plant.events[plant.events["kind"] == "spike"]
    for spike in spikes.itertuples():
        row = parts.loc[spike.start].set_axis(list(plant.frame.columns))
        assert row.idxmax() == spike.channels


def test_auto_is_never_the_worst_family_on_any_kind(streamed) -> None:
    plant, result = streamed
    auto, scored = result.detector, slice(1000, None)
    kinds = plant.labels["kind"].to_numpy(dtype=object)[scored]
    scores = {"auto": result.frame["score"].to_numpy()[scored]}
    for label, member in auto.members_:  # each family alone, as fitted inside auto: same rows, same settings
        scores[label] = member.raw_scores(plant.frame)[scored]
    for kind in PLANT_ANOMALY_KINDS:
        kept = (kinds == "") | (kinds == kind)
        auc = {name: pr_auc(np.nan_to_num(s[kept], nan=0.0), kinds[kept] == kind) for name, s in scores.items()}
        worst = min(value for name, value in auc.items() if name != "auto")
        assert auc["auto"] > worst or auc["auto"] == max(auc.values()), (kind, auc)  # or every one of them perfect


def test_auto_is_causal_and_refuses_what_it_cannot_combine() -> None:
    plant = generate_plant(1500, anomalies={"spike": 2}, clean_start=1000, seed=1)
    with pytest.raises(ConfigError, match="learns online"):
        AutoDetector(members=["online_interval"]).fit(plant.frame.iloc[:1000])
    with pytest.raises(ConfigError, match="combine"):
        AutoDetector(combine="median").fit(plant.frame.iloc[:1000])
    with pytest.raises(ConfigError, match="causal"):
        AutoDetector(members=["bilstm_ae"], training=TINY).fit(plant.frame.iloc[:1000])
    detector = AutoDetector(members=["ar_residual", "interval"], combine="mean", window_length=24)
    changed = plant.frame.copy()
    changed.iloc[1200:] += 50.0
    left = score_stream(detector, plant.frame, train_rows=1000, contributions=True).frame
    right = score_stream(detector, changed, train_rows=1000, contributions=True).frame
    pd.testing.assert_frame_equal(left.iloc[:1200], right.iloc[:1200])


def test_tsseq_detect_with_no_detector_option_runs_auto(tmp_path: Path, capsys) -> None:
    plant = generate_plant(1600, anomalies={"spike": 3, "shift": 1}, clean_start=800, seed=2)
    data = tmp_path / "plant.csv"
    plant.frame.to_csv(data)
    output, events = tmp_path / "scores.csv", tmp_path / "events.csv"
    code = main(["detect", str(data), "--train-rows", "800", "--window", "32", "--param",
                 "training={epochs: 2, progress: false}", "--threads", "1", "--output", str(output),
                 "--events", str(events)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0, err
    assert "auto: the max of 3 normalised scores" in err and "lstm_ae" in err
    table = pd.read_csv(output, parse_dates=["timestamp"])
    assert list(table.columns[-5:]) == contribution_columns(plant.frame.columns)
    assert table["score"].iloc[:800].isna().all() and table["score"].iloc[800:].notna().all()
    assert table.loc[table["timestamp"].isin(plant.events["start"][plant.events["kind"] == "spike"]), "is_anomaly"].all()
    assert (pd.read_csv(events)["channels"].fillna("") != "").all()


# ---- the reference its normalisers and threshold are fitted on ---------------------------------------------------
def _weekly(rows: int, seed: int) -> pd.DataFrame:
    """A clean series: a period-7 cycle and white noise, hourly stamps."""
    rng = np.random.default_rng(seed)
    t = np.arange(rows)
    values = 10 + 3 * np.sin(2 * np.pi * t / 7) + rng.normal(0, 0.5, rows)
    return pd.DataFrame({"y": values}, index=pd.date_range("2024-01-01", periods=rows, freq="h"))


def test_cross_fitted_scores_come_from_the_fit_on_the_other_half() -> None:
    frame = _weekly(400, 0)
    members = [{"name": "ar_residual", "params": {"forecaster_params": {"max_order": 14}}}, "interval"]
    auto = AutoDetector(members=members, window_length=24, reference="cross_fitted", threshold=None).fit(frame)
    scores = auto.cross_fitted_scores(frame)
    assert scores.shape == (400, 2) and np.isnan(scores[: auto.context_rows()]).all()
    for index, (label, member) in enumerate(auto.members_):
        params = member.get_params(deep=False)
        early = make_detector(label, **params).fit(frame.iloc[:200])
        late = make_detector(label, **params).fit(frame.iloc[200:])
        expected = np.concatenate([late.raw_scores(frame.iloc[:200]), early.raw_scores(frame)[200:]])
        expected[: auto.context_rows()] = np.nan
        np.testing.assert_allclose(scores[:, index], expected, rtol=1e-12, equal_nan=True)
    # the normalisers and the reference are those scores, every training row's (not the held-out fifth's)
    assert auto.reference_ == "cross_fitted"
    for (_, member), normaliser, column in zip(auto.members_, auto.normalisers_, scores.T):
        np.testing.assert_array_equal(normaliser.sorted_, np.sort(column[np.isfinite(column)]))
    assert np.isfinite(auto.validation_scores_).sum() == 400 - auto.context_rows()
    assert "cross-fitted scores (376 training rows, each scored by a fit on the other half" in auto.report()


def test_a_cross_fitted_threshold_keeps_its_false_alarm_rate_on_few_training_rows() -> None:
    # 200 training rows: an AR of order up to 30 (by AIC) fits them closely, so its in-sample residuals are smaller
    # than new rows' and a threshold on them flags a clean continuation several times as often as its rate (0.01).
    # The same members fitted on each half, scoring the other half, give scores that stand for new rows.
    ar = {"forecaster": "ar", "forecaster_params": {"max_order": 30, "criterion": "aic"}}
    members = [{"name": "ar_residual", "params": ar}, {"name": "interval", "params": ar}]
    shares = {"in_sample": [], "cross_fitted": []}
    for seed in range(6):
        frame = _weekly(1200, seed)
        for reference in shares:
            auto = AutoDetector(members=members, window_length=32, reference=reference).fit(frame.iloc[:200])
            shares[reference].append(float(auto.predict(frame.iloc[200:]).iloc[auto.context_rows() :].mean()))
    in_sample, cross_fitted = np.array(shares["in_sample"]), np.array(shares["cross_fitted"])
    assert in_sample.mean() > 0.03 and cross_fitted.mean() < 0.02 and (cross_fitted <= in_sample).all(), shares


def test_cross_fitting_falls_back_to_in_sample_scores_on_halves_too_short_and_refuses_unknown_references() -> None:
    frame = _weekly(60, 0)
    with pytest.warns(UserWarning, match=r"reference='cross_fitted' needs each half of the 60 training rows"):
        auto = AutoDetector(members=["ar_residual"], window_length=32, reference="cross_fitted").fit(frame)
    assert auto.reference_ == "in_sample" and "validation scores (12 held-out rows" in auto.report()
    with pytest.raises(ConfigError, match=r"'reference' parameter must be one of \['in_sample', 'cross_fitted'\]"):
        AutoDetector(reference="crossfit").fit(frame)
