"""A simulated plant: a control input drives coupled sensors, with labelled collective anomalies.

A seeded, offline corpus for multivariate anomaly detection (pure numpy). A setpoint
schedule (the control input ``u``) drives four sensors that depend on each other with
gains, dead times and first-order dynamics; a daily cycle runs through the demand and
the ambient temperature. With ``P`` rows in one day and ``t`` the row:

.. code-block:: text

    setpoint     u_t = s_t + a_u sin(2 pi t / P + phi_u)
    flow         q_t = q_{t-1} + (g_q u_{t-d_q} + e^q_t - q_{t-1}) / tau_q
    pressure     p_t = p_{t-1} + (p_0 + g_p q_{t-d_p} + e^p_t - p_{t-1}) / tau_p
    temperature  T_t = T_{t-1} + (T_0 + g_T p_{t-d_T} + a_T sin(2 pi t / P + phi_T) + e^T_t - T_{t-1}) / tau_T
    power        w_t = w_{t-1} + (w_0 + g_wq q_{t-d_w} + g_wp p_{t-d_w} + e^w_t - w_{t-1}) / tau_w

``process="nonlinear"`` replaces three of those linear laws by the physical ones (the
dynamics, dead times and noises unchanged; gains matched to the linear plant's levels at a
setpoint of 60), where a linear model of the sensors is only right locally:

.. code-block:: text

    flow      (a valve)            target g_q sqrt(u_{t-d_q})                 g_q = 11.6
    pressure  (a quadratic drop)   target p_0 + g_p q_{t-d_p}^2               g_p = 4.44e-4
    power     (hydraulic power)    target w_0 + g_w q_{t-d_w} p_{t-d_w}       g_w = 0.055

``s_t`` holds random levels for random durations, joined by steps or linear ramps;
``e^c_t ~ N(0, varsigma_c^2)`` is process noise; a driver before row 0 is its row-0 value
and every state starts at its first target. The constants are :data:`SENSORS`. Each
sensor is measured with noise, ``y^c_t = x^c_t + sigma_c eta^c_t``; the setpoint is
known exactly.

Anomalies are faults of one measured sensor ``c`` on rows ``[a, b)`` (``m`` is
``magnitude``, ``s_c`` the standard deviation of the clean measured channel, ``+-`` a
random sign):

* ``spike`` (one row): ``y_a += +-3 m s_c``;
* ``shift`` (the channel against the others): ``y_t += +-m s_c``;
* ``drift`` (a slow ramp): ``y_t += +-1.5 m s_c (t - a + 1) / (b - a)``;
* ``stuck`` (a frozen sensor): ``y_t = y_a``;
* ``oscillation`` (a burst): ``y_t += m s_c sin(2 pi (t - a) / T_o)``, ``T_o`` uniform in [6, 30] rows;
* ``broken_coupling`` (the sensor stops following its driver): ``y_t = z_t + sigma_c eta_t``
  where ``z_t = z_{t-1} + (r_t - z_{t-1}) / tau_c`` follows a random walk
  ``r_t = r_{t-1} + 0.1 m s_c xi_t`` from the true value before the event, ``r_{a-1} = z_{a-1} = x^c_{a-1}``.

Faults touch the measurements only (the process itself is unchanged), and the clean
process, the schedule and the anomalies come from independent streams spawned from the
seed: ``generate_plant(..., anomalies={})`` with the same seed is the plant without
faults, and the two differ only in the labelled cells.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tsseq.data.synthetic import _place
from tsseq.errors import ConfigError, check_positive_int, closest_match

PLANT_ANOMALY_KINDS = ("spike", "shift", "drift", "stuck", "oscillation", "broken_coupling")
DEFAULT_PLANT_ANOMALIES = {"spike": 4, "shift": 2, "drift": 2, "stuck": 2, "oscillation": 2, "broken_coupling": 2}
CONTROL = "setpoint"


@dataclass(frozen=True)
class Sensor:
    """One sensor: target ``offset + law(drivers_{t - delay}) + cycle * sin(daily)``, lag ``tau`` rows.

    ``law``: ``"sum"``, the sum of ``gain * driver``; ``"sqrt"`` and ``"square"``, ``gain``
    times the root or the square of its one driver; ``"product"``, the first gain times
    the product of the drivers (the other gains unused).
    """

    name: str
    drivers: tuple[tuple[str, float], ...]
    offset: float
    tau: float
    delay: int
    process_noise: float
    noise: float  # measurement noise sigma_c
    cycle: float = 0.0  # daily amplitude a_T (ambient temperature)
    law: str = "sum"

    def driven(self, true: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        """The drivers' terms of the target, each ``(T,)``, from the simulated drivers ``true`` (name -> ``(T,)``)."""
        delayed = [(_delayed(true[driver], self.delay), gain) for driver, gain in self.drivers]
        if self.law == "sum":
            return [gain * values for values, gain in delayed]
        gain = self.drivers[0][1]
        if self.law == "product":
            return [gain * np.prod([values for values, _ in delayed], axis=0)]
        ((values, _),) = delayed
        return [gain * (np.sqrt(np.maximum(values, 0.0)) if self.law == "sqrt" else values**2)]


SENSORS = (
    Sensor("flow", (("setpoint", 1.5),), 0.0, tau=4.0, delay=2, process_noise=1.0, noise=1.0),
    Sensor("pressure", (("flow", 0.04),), 1.0, tau=8.0, delay=3, process_noise=0.03, noise=0.04),
    Sensor("temperature", (("pressure", 8.0),), 20.0, tau=40.0, delay=6, process_noise=0.2, noise=0.25, cycle=3.0),
    Sensor("power", (("flow", 0.15), ("pressure", 2.0)), 2.0, tau=3.0, delay=1, process_noise=0.2, noise=0.3),
)
# process="nonlinear": the same plant with a valve, a quadratic pressure drop and hydraulic power (module docstring).
NONLINEAR_SENSORS = (
    Sensor("flow", (("setpoint", 11.6),), 0.0, tau=4.0, delay=2, process_noise=1.0, noise=1.0, law="sqrt"),
    Sensor("pressure", (("flow", 4.44e-4),), 1.0, tau=8.0, delay=3, process_noise=0.03, noise=0.04, law="square"),
    SENSORS[2],
    Sensor("power", (("flow", 0.055), ("pressure", 1.0)), 2.0, tau=3.0, delay=1, process_noise=0.2, noise=0.3,
           law="product"),
)
PROCESSES = {"linear": SENSORS, "nonlinear": NONLINEAR_SENSORS}
SETPOINT_RANGE = (40.0, 80.0)  # levels of the schedule
SETPOINT_CYCLE = 5.0  # daily demand amplitude a_u


@dataclass(frozen=True, eq=False)
class PlantSeries:
    """What :func:`generate_plant` returns.

    ``frame``: ``(T, 5)`` float64, DatetimeIndex ``date`` with freq, columns ``setpoint``,
    ``flow``, ``pressure``, ``temperature``, ``power``. ``labels``: per row,
    ``is_anomaly`` (bool), ``kind`` (``""`` on normal rows) and ``channels`` (the
    sensors involved, comma-separated). ``channel_labels``: boolean ``(T, 5)`` like
    ``frame``, True where that channel is faulty (the setpoint never is). ``events``: one
    row per anomaly, in time order: ``start``, ``end`` (first and last timestamps,
    inclusive), ``kind``, ``channels``, ``rows``.
    """

    frame: pd.DataFrame
    labels: pd.DataFrame
    channel_labels: pd.DataFrame
    events: pd.DataFrame

    @property
    def is_anomaly(self) -> np.ndarray:
        """``(T,)`` boolean: True where any channel is faulty."""
        return self.labels["is_anomaly"].to_numpy()


def generate_plant(
    length: int = 4000,
    *,
    freq: str = "5min",
    start: str | pd.Timestamp = "2024-01-01",
    anomalies: Mapping[str, int] | None = None,
    anomaly_length: tuple[int, int] = (10, 300),
    magnitude: float = 1.0,
    hold: tuple[int, int] = (60, 400),
    clean_start: int = 0,
    process: str = "linear",
    seed: int = 0,
) -> PlantSeries:
    """Simulate the plant (module docstring) for ``length`` rows, with labelled faults.

    Parameters
    ----------
    length : int
        Rows ``T``.
    freq, start
        The DatetimeIndex ``pd.date_range(start, periods=length, freq=freq)``; ``freq``
        must be a fixed step (``"5min"``, ``"s"``): the daily cycle has ``1 day / freq`` rows.
    anomalies : mapping kind -> count, optional
        Kinds in :data:`PLANT_ANOMALY_KINDS`; None: :data:`DEFAULT_PLANT_ANOMALIES`; ``{}``: none.
    anomaly_length : (int, int)
        Inclusive range of the length of every kind but ``spike``, drawn log-uniformly so
        that short and long faults are both common.
    magnitude : float
        ``m`` of the module docstring, in standard deviations of the clean channel.
    hold : (int, int)
        Inclusive range of the rows each setpoint level is held (ramps take 10 to 120 rows).
    clean_start : int
        Leading rows kept free of faults (e.g. a detector's training period).
    process : {"linear", "nonlinear"}
        The sensors' laws (module docstring); ``"nonlinear"`` draws the same schedule,
        noises and faults as ``"linear"`` with the same seed.
    seed : int
        Same seed, same plant.
    """
    length = check_positive_int(length, "length", minimum=2)
    clean_start = check_positive_int(clean_start, "clean_start", minimum=0)
    shortest = check_positive_int(anomaly_length[0], "anomaly_length[0]")
    longest = check_positive_int(anomaly_length[1], "anomaly_length[1]", minimum=shortest)
    hold = (check_positive_int(hold[0], "hold[0]"), check_positive_int(hold[1], "hold[1]", minimum=hold[0]))
    if not (isinstance(magnitude, (int, float)) and magnitude > 0):
        raise ConfigError(f"The 'magnitude' parameter must be a number > 0. Got {magnitude!r} instead.")
    kinds = _check_kinds(DEFAULT_PLANT_ANOMALIES if anomalies is None else anomalies)
    if process not in PROCESSES:
        raise ConfigError(
            f"The 'process' parameter must be one of {', '.join(PROCESSES)}. Got {process!r} instead."
            f"{closest_match(str(process), PROCESSES)}"
        )
    sensors = PROCESSES[process]
    try:
        index = pd.date_range(start, periods=length, freq=freq, name="date")
        step = pd.Timedelta(index.freq)
    except (ValueError, TypeError) as error:
        raise ConfigError(f"Bad 'start' {start!r} or 'freq' {freq!r} (a fixed step such as '5min'): {error}") from None
    rows_per_day = pd.Timedelta("1D") / step

    schedule_rng, process_rng, anomaly_rng = np.random.default_rng(seed).spawn(3)
    true = _simulate(sensors, length, rows_per_day, hold, schedule_rng, process_rng)  # name -> (T,)
    measured = {CONTROL: true[CONTROL]}
    for sensor in sensors:
        measured[sensor.name] = true[sensor.name] + sensor.noise * process_rng.standard_normal(length)
    columns = [CONTROL, *(sensor.name for sensor in sensors)]
    values = np.column_stack([measured[name] for name in columns])  # (T, 5)
    scale = values.std(axis=0)  # (5,) s_c of the clean measured channels

    faults = _draw(kinds, sensors, length, (shortest, longest), clean_start, anomaly_rng)
    channel_labels = np.zeros(values.shape, dtype=bool)
    kind_of_row = np.full(length, "", dtype=object)
    channels_of_row = np.full(length, "", dtype=object)
    for fault in faults:
        channel = columns.index(fault.sensor.name)
        _inject(values[:, channel], true[fault.sensor.name], fault, scale[channel], magnitude, anomaly_rng)
        channel_labels[fault.start : fault.stop, channel] = True
        kind_of_row[fault.start : fault.stop] = fault.kind
        channels_of_row[fault.start : fault.stop] = fault.sensor.name

    return PlantSeries(
        frame=pd.DataFrame(values, index=index, columns=columns),
        labels=pd.DataFrame(
            {"is_anomaly": channel_labels.any(axis=1), "kind": kind_of_row, "channels": channels_of_row}, index=index
        ),
        channel_labels=pd.DataFrame(channel_labels, index=index, columns=columns),
        events=pd.DataFrame(
            {
                "start": index[[fault.start for fault in faults]],
                "end": index[[fault.stop - 1 for fault in faults]],
                "kind": pd.Series([fault.kind for fault in faults], dtype=object),
                "channels": pd.Series([fault.sensor.name for fault in faults], dtype=object),
                "rows": pd.Series([fault.stop - fault.start for fault in faults], dtype=np.int64),
            }
        ),
    )


def _check_kinds(anomalies: Mapping[str, int]) -> list[str]:
    kinds = []
    for kind, count in anomalies.items():
        if kind not in PLANT_ANOMALY_KINDS:
            raise ConfigError(
                f"Unknown plant anomaly kind {kind!r}.{closest_match(kind, PLANT_ANOMALY_KINDS)} "
                f"Kinds: {', '.join(PLANT_ANOMALY_KINDS)}."
            )
        kinds += [kind] * check_positive_int(count, f"anomalies[{kind!r}]", minimum=0)
    return kinds


def _schedule(length: int, hold: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """``(T,)`` s_t: levels held ``hold`` rows, each joined to the next by a step or a 10-120 row ramp."""
    low, high = SETPOINT_RANGE
    pieces, level = [], rng.uniform(low, high)
    total = 0
    while total < length:
        held = int(rng.integers(hold[0], hold[1] + 1))
        pieces.append(np.full(held, level))
        following = rng.uniform(low, high)
        ramp = int(rng.integers(10, 121)) if rng.random() < 0.5 else 0  # 0: a step
        pieces.append(np.linspace(level, following, ramp + 2)[1:-1])
        total += held + ramp
        level = following
    return np.concatenate(pieces)[:length]


def _first_order(target: np.ndarray, tau: float) -> np.ndarray:
    """``x_t = x_{t-1} + (target_t - x_{t-1}) / tau`` from ``x_0 = target_0``."""
    state = np.empty_like(target)
    state[0] = target[0]
    keep = 1.0 - 1.0 / tau
    for row in range(1, len(target)):  # a recursion: T steps of scalar work, milliseconds for 10^4 rows
        state[row] = keep * state[row - 1] + (1.0 - keep) * target[row]
    return state


def _delayed(values: np.ndarray, delay: int) -> np.ndarray:
    """``values_{t - delay}``, the first value before row 0."""
    return np.concatenate([np.full(delay, values[0]), values[: len(values) - delay]]) if delay else values


def _simulate(sensors: tuple[Sensor, ...], length: int, rows_per_day: float, hold: tuple[int, int], schedule_rng,
              process_rng) -> dict:
    """The true process, name -> ``(T,)``: the setpoint, then each sensor from its drivers."""
    daily = 2 * np.pi * np.arange(length) / rows_per_day
    phases = process_rng.uniform(0, 2 * np.pi, size=2)
    true = {CONTROL: _schedule(length, hold, schedule_rng) + SETPOINT_CYCLE * np.sin(daily + phases[0])}
    for sensor in sensors:  # in dependency order: every driver is simulated before its sensor
        target = np.full(length, sensor.offset) + sensor.cycle * np.sin(daily + phases[1])
        for term in sensor.driven(true):  # one at a time: the linear plant's sums in their order, to the bit
            target += term
        target += sensor.process_noise * process_rng.standard_normal(length)
        true[sensor.name] = _first_order(target, sensor.tau)
    return true


@dataclass(frozen=True)
class _Fault:
    kind: str
    start: int
    stop: int
    sensor: Sensor
    sign: float


def _draw(kinds: list[str], sensors: tuple[Sensor, ...], length: int, lengths_range: tuple[int, int], clean_start: int,
          rng) -> list[_Fault]:
    """Random, non-overlapping faults of ``kinds`` on random sensors, sorted by time."""
    kinds = [kinds[position] for position in rng.permutation(len(kinds))]
    low, high = np.log(lengths_range[0]), np.log(lengths_range[1] + 1)
    drawn = np.minimum(np.exp(rng.uniform(low, high, size=len(kinds))).astype(np.int64), lengths_range[1])
    lengths = np.where(np.array(kinds, dtype=object) == "spike", 1, drawn).astype(np.int64)
    starts = _place(lengths, clean_start, length, rng)
    chosen = rng.integers(0, len(sensors), size=len(kinds))
    signs = rng.choice([-1.0, 1.0], size=len(kinds))
    return [
        _Fault(kind, int(first), int(first + size), sensors[int(sensor)], float(sign))
        for kind, first, size, sensor, sign in zip(kinds, starts, lengths, chosen, signs)
    ]


def _inject(measured: np.ndarray, true: np.ndarray, fault: _Fault, scale: float, magnitude: float, rng) -> None:
    """Apply one fault to a measured channel ``(T,)`` in place, on its rows only (module docstring)."""
    rows = slice(fault.start, fault.stop)
    size = magnitude * scale
    steps = np.arange(1, fault.stop - fault.start + 1)
    if fault.kind == "spike":
        measured[rows] += fault.sign * 3.0 * size
    elif fault.kind == "shift":
        measured[rows] += fault.sign * size
    elif fault.kind == "drift":
        measured[rows] += fault.sign * 1.5 * size * steps / len(steps)
    elif fault.kind == "stuck":
        measured[rows] = measured[fault.start]
    elif fault.kind == "oscillation":
        period = rng.uniform(6.0, 30.0)
        measured[rows] += fault.sign * size * np.sin(2 * np.pi * (steps - 1) / period)
    else:  # broken_coupling: the sensor follows a walk of its own instead of its drivers
        before = true[max(fault.start - 1, 0)]
        walk = before + np.cumsum(0.1 * size * rng.standard_normal(len(steps)))
        wander = _first_order(np.r_[before, walk], fault.sensor.tau)[1:]
        measured[rows] = wander + fault.sensor.noise * rng.standard_normal(len(steps))
