"""The simulated plant: layout, labels per row and per channel, determinism, couplings and faults."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tsseq.data.plant import DEFAULT_PLANT_ANOMALIES, NONLINEAR_SENSORS, PLANT_ANOMALY_KINDS, SENSORS, generate_plant
from tsseq.errors import ConfigError

COLUMNS = ["setpoint", "flow", "pressure", "temperature", "power"]


def test_layout_of_frame_labels_channel_labels_and_events() -> None:
    plant = generate_plant(3000, freq="1min", start="2024-05-01", clean_start=500, seed=4)
    assert plant.frame.shape == plant.channel_labels.shape == (3000, 5)
    assert list(plant.frame.columns) == list(plant.channel_labels.columns) == COLUMNS
    assert plant.frame.index.freqstr == "min" and plant.frame.index[0] == pd.Timestamp("2024-05-01")
    assert (plant.frame.dtypes == np.float64).all() and (plant.channel_labels.dtypes == bool).all()
    assert list(plant.labels.columns) == ["is_anomaly", "kind", "channels"]
    assert list(plant.events.columns) == ["start", "end", "kind", "channels", "rows"]
    assert plant.events["kind"].value_counts().to_dict() == DEFAULT_PLANT_ANOMALIES
    assert plant.events["start"].is_monotonic_increasing and (plant.events["start"] >= plant.frame.index[500]).all()
    assert not plant.channel_labels["setpoint"].any()  # the control input is known, never faulty
    assert (plant.events.loc[plant.events["kind"] == "spike", "rows"] == 1).all()
    assert plant.is_anomaly.sum() == plant.events["rows"].sum()


def test_labels_per_row_and_per_channel_describe_the_events() -> None:
    plant = generate_plant(4000, anomalies={kind: 2 for kind in PLANT_ANOMALY_KINDS}, seed=2)
    rebuilt = pd.DataFrame(False, index=plant.frame.index, columns=plant.frame.columns)
    kinds = pd.Series("", index=plant.frame.index, dtype=object)
    for event in plant.events.itertuples():
        rows = plant.frame.loc[event.start : event.end]
        assert len(rows) == event.rows
        rebuilt.loc[event.start : event.end, event.channels] = True
        kinds.loc[event.start : event.end] = event.kind
        assert (plant.labels.loc[event.start : event.end, "channels"] == event.channels).all()
    pd.testing.assert_frame_equal(rebuilt, plant.channel_labels)
    pd.testing.assert_series_equal(kinds, plant.labels["kind"], check_names=False, check_dtype=False)
    np.testing.assert_array_equal(plant.labels["is_anomaly"], rebuilt.any(axis=1))
    lengths = plant.events.loc[plant.events["kind"] != "spike", "rows"]
    assert lengths.between(10, 300).all() and lengths.max() > 3 * lengths.min()  # many lengths


def test_same_seed_same_plant_another_seed_another() -> None:
    first, again, other = generate_plant(1500, seed=7), generate_plant(1500, seed=7), generate_plant(1500, seed=8)
    pd.testing.assert_frame_equal(first.frame, again.frame)
    pd.testing.assert_frame_equal(first.labels, again.labels)
    pd.testing.assert_frame_equal(first.events, again.events)
    assert not np.allclose(first.frame.to_numpy(), other.frame.to_numpy())


def test_faults_change_only_their_labelled_cells_and_have_their_shape() -> None:
    plant = generate_plant(5000, anomaly_length=(40, 200), magnitude=1.5, seed=5)
    clean = generate_plant(5000, anomalies={}, seed=5)
    assert not clean.is_anomaly.any() and clean.events.empty
    changed = plant.frame.to_numpy() != clean.frame.to_numpy()
    assert not (changed & ~plant.channel_labels.to_numpy()).any()
    scale = clean.frame.std(ddof=0)  # s_c as the generator computes it
    for event in plant.events.itertuples():
        faulty = plant.frame.loc[event.start : event.end, event.channels].to_numpy()
        difference = faulty - clean.frame.loc[event.start : event.end, event.channels].to_numpy()
        size = 1.5 * scale[event.channels]
        if event.kind == "stuck":
            assert np.ptp(faulty) == 0.0
        elif event.kind == "shift":
            np.testing.assert_allclose(np.abs(difference), size)
        elif event.kind == "spike":
            np.testing.assert_allclose(np.abs(difference), 3 * size)
        elif event.kind == "drift":
            assert np.all(np.diff(np.abs(difference)) > 0) and np.isclose(np.abs(difference[-1]), 1.5 * size)
        elif event.kind == "oscillation":
            assert np.abs(difference).max() <= size + 1e-9 and np.abs(difference).max() > 0.8 * size


def _response(driver: pd.Series, sensor) -> pd.Series:
    """The driver delayed by the sensor's dead time and passed through its first-order lag."""
    return driver.shift(sensor.delay).bfill().ewm(alpha=1 / sensor.tau, adjust=False).mean()


def _residual_from_drivers(frame: pd.DataFrame, sensor, rows: np.ndarray) -> np.ndarray:
    """|y - least-squares fit on the sensor's responses to its drivers| (fitted on ``rows``), every row."""
    design = np.column_stack([np.ones(len(frame)), *(_response(frame[name], sensor) for name, _ in sensor.drivers)])
    target = frame[sensor.name].to_numpy()
    coefficients, *_ = np.linalg.lstsq(design[rows], target[rows], rcond=None)
    return np.abs(target - design @ coefficients)


@pytest.mark.parametrize("seed", [0, 1])
def test_every_sensor_follows_its_driver_except_where_the_coupling_is_broken(seed: int) -> None:
    plant = generate_plant(6000, anomalies={"broken_coupling": 3}, anomaly_length=(150, 300), seed=seed)
    normal = ~plant.is_anomaly
    for sensor in SENSORS:
        response = _response(plant.frame[sensor.drivers[0][0]], sensor)
        correlation = plant.frame[sensor.name][normal].corr(response[normal])
        assert correlation > 0.9, (sensor.name, correlation)  # the coupling is there
    for event in plant.events.itertuples():
        sensor = next(sensor for sensor in SENSORS if sensor.name == event.channels)
        healthy = normal & ~plant.channel_labels[sensor.name].to_numpy()
        residual = _residual_from_drivers(plant.frame, sensor, healthy)
        broken = plant.channel_labels[sensor.name].to_numpy()
        assert residual[broken].mean() > 4 * residual[healthy].mean(), (event, seed)  # and broken where labelled


def test_the_nonlinear_process_follows_its_laws_with_the_linear_plants_schedule_noises_and_faults() -> None:
    linear = generate_plant(4000, clean_start=500, seed=5)
    plant = generate_plant(4000, clean_start=500, seed=5, process="nonlinear")
    pd.testing.assert_frame_equal(plant.labels, linear.labels)
    pd.testing.assert_frame_equal(plant.events, linear.events)
    pd.testing.assert_series_equal(plant.frame["setpoint"], linear.frame["setpoint"])
    clean = generate_plant(4000, seed=5, process="nonlinear", anomalies={}).frame
    flow, pressure, power = (NONLINEAR_SENSORS[position] for position in (0, 1, 3))
    steady = slice(200, None)  # past the start's transients
    # A first-order lag keeps the mean of its target: each sensor's mean is its law's mean over its drivers.
    valve = flow.drivers[0][1] * np.sqrt(clean["setpoint"].shift(flow.delay))
    assert clean["flow"][steady].mean() == pytest.approx(valve[steady].mean(), rel=0.003)
    drop = pressure.offset + pressure.drivers[0][1] * clean["flow"].shift(pressure.delay) ** 2
    assert clean["pressure"][steady].mean() == pytest.approx(drop[steady].mean(), rel=0.003)
    hydraulic = power.offset + power.drivers[0][1] * (clean["flow"] * clean["pressure"]).shift(power.delay)
    assert clean["power"][steady].mean() == pytest.approx(hydraulic[steady].mean(), rel=0.003)
    # Curved where the linear plant is straight: pressure against the flow it follows, a parabola's leading term.
    def curvature(frame: pd.DataFrame) -> float:
        return np.polyfit(frame["flow"].shift(pressure.delay)[steady], frame["pressure"][steady], 2)[0]

    assert curvature(clean) == pytest.approx(pressure.drivers[0][1], rel=0.25)  # the lag blurs it a little
    assert abs(curvature(generate_plant(4000, seed=5, anomalies={}).frame)) < 0.1 * pressure.drivers[0][1]


def test_bad_arguments_are_refused_naming_them() -> None:
    with pytest.raises(ConfigError, match="'process' parameter must be one of linear, nonlinear. Got 'nonlinar'"):
        generate_plant(100, process="nonlinar")
    with pytest.raises(ConfigError, match="Did you mean 'drift'"):
        generate_plant(100, anomalies={"drfit": 1})
    with pytest.raises(ConfigError, match="'magnitude'"):
        generate_plant(100, magnitude=0)
    with pytest.raises(ConfigError, match="rows plus gaps"):
        generate_plant(100, anomalies={"shift": 3}, anomaly_length=(50, 60))
