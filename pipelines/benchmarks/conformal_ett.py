"""Coverage of conformal intervals on the ETT long-horizon protocol's test windows.

The protocol of :func:`tsseq.protocols.evaluate_ett` (standard split, standardised with
the train statistics, every test window with stride 1), with the model wrapped in
:class:`tsseq.conformal.ConformalForecaster`: fitted on the train rows, calibrated on
every validation window (``L`` rows of context, ``H`` of targets, stride 1), then the
central 80/90/95% intervals of every test window are scored: empirical coverage over
windows, steps and channels, its range over the horizon steps, and the mean width.

    TSSEQ_DATA_DIR=../shared/datasets python pipelines/benchmarks/conformal_ett.py \\
        --dataset ETTh1 --setting S --model ar:'{"max_order": 96}' \\
        --model segrnn:'{"hidden_size": 64, "segment_length": 24, "training": {"epochs": 5}}'

``--model`` takes a registered name, optionally ``name:JSON`` constructor arguments; the
neural models get ``input_length`` and ``horizon`` from ``-L`` / ``-H``. ``--rolling`` walks
the test origins forward with :meth:`~tsseq.conformal.ConformalForecaster.rolling_intervals`
instead (causal online use: ``--method adaptive`` adapts the level as truths arrive,
``--score-window N`` recalibrates on the latest ``N`` scores of each step).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

COVERAGES = (0.8, 0.9, 0.95)


def windows(values: np.ndarray, input_length: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Every (input, target) window of ``(T, C)`` rows, stride 1: ``(N, L, C)`` and ``(N, H, C)`` views."""
    view = np.lib.stride_tricks.sliding_window_view(values, input_length + horizon, axis=0).transpose(0, 2, 1)
    return view[:, :input_length], view[:, input_length:]


def run(name: str, params: dict, args: argparse.Namespace) -> list[dict]:
    import tsseq
    from tsseq.data.scaling import Scaler
    from tsseq.data.splits import split_preset
    from tsseq.protocols import ETT_TARGET
    from tsseq.registry import parameters

    frame = tsseq.load(args.dataset, data_dir=args.data_dir).frame
    if args.setting == "S":
        frame = frame[[ETT_TARGET]]
    split = split_preset(frame, args.dataset, input_length=args.input_length)
    scaler = Scaler("standard").fit(split.train)
    train, validation, test = (scaler.transform(part) for part in (split.train, split.validation, split.test))
    accepted = parameters(name)
    params = {**{key: value for key, value in (("input_length", args.input_length), ("horizon", args.horizon))
                 if key in accepted}, **params}
    model = tsseq.create("conformal", model=name, model_params=params, horizon=args.horizon,
                         input_length=args.input_length, method=args.method, scale=args.scale)
    started = time.perf_counter()
    model.fit(train, validation=validation)
    inputs, targets = windows(test.to_numpy(), args.input_length, args.horizon)
    bounds = {}
    if args.rolling:
        for coverage in COVERAGES:  # origins L .. len(test) - H are the protocol's test windows
            rolled = model.rolling_intervals(test, start=args.input_length, coverage=coverage, score_window=args.score_window)
            shape = (-1, args.horizon, test.shape[1])
            point = rolled[list(test.columns)].to_numpy()[: len(inputs) * args.horizon].reshape(shape)
            bounds[coverage] = tuple(rolled[[f"{column}_{side}" for column in test.columns]].to_numpy()
                                     [: len(inputs) * args.horizon].reshape(shape) for side in ("lower", "upper"))
    else:
        levels = sorted({(1 - c) / 2 for c in COVERAGES} | {0.5} | {(1 + c) / 2 for c in COVERAGES})
        quantiles = np.concatenate([model.predict_windows(inputs[i : i + 256], args.horizon, quantiles=levels)
                                    for i in range(0, len(inputs), 256)])  # (N, H, C, Q)
        point = quantiles[..., levels.index(0.5)]
        for coverage in COVERAGES:
            bounds[coverage] = (quantiles[..., levels.index((1 - coverage) / 2)], quantiles[..., levels.index((1 + coverage) / 2)])
    seconds = time.perf_counter() - started
    point_mse = float(np.mean((point - targets) ** 2))
    rows = []
    for coverage in COVERAGES:
        low, high = bounds[coverage]
        inside = (targets >= low) & (targets <= high)
        per_step = inside.mean(axis=(0, 2))
        rows.append({
            "model": name, "nominal": coverage, "coverage": float(inside.mean()),
            "step_min": float(per_step.min()), "step_max": float(per_step.max()),
            "width": float(np.mean((high - low)[np.isfinite(high - low)])),
            "infinite": float(np.mean(~np.isfinite(high - low))), "windows": len(inputs),
            "calibration_windows": int(model.counts_.min()), "mse": point_mse, "seconds": seconds,
        })
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ETTh1", choices=["ETTh1", "ETTh2", "ETTm1", "ETTm2"])
    parser.add_argument("--setting", default="S", choices=["S", "M"])
    parser.add_argument("--model", action="append", help="NAME or NAME:JSON (repeatable; default ar with max_order 96)")
    parser.add_argument("-L", "--input-length", type=int, default=96)
    parser.add_argument("-H", "--horizon", type=int, default=96)
    parser.add_argument("--method", default="split", choices=["split", "adaptive"])
    parser.add_argument("--scale", default="naive", choices=["naive", "std", "none"], help="score normalisation")
    parser.add_argument("--data-dir", default=None, help="benchmark files (default: TSSEQ_DATA_DIR)")
    parser.add_argument("--rolling", action="store_true", help="rolling_intervals over the test origins")
    parser.add_argument("--score-window", type=int, default=None, help="with --rolling: recalibrate on the latest N")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    rows = []
    for spec in args.model or ['ar:{"max_order": 96}']:
        name, _, raw = spec.partition(":")
        rows += run(name, json.loads(raw) if raw else {}, args)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    mode = f", rolling, score_window={args.score_window}" if args.rolling else ""
    print(f"{args.dataset} {args.setting}, L={args.input_length}, H={args.horizon}: conformal ({args.method}, "
          f"scale={args.scale}{mode}) "
          f"on {rows[0]['windows']} test windows, calibrated on {rows[0]['calibration_windows']} validation windows")
    print(f"{'model':<16}{'nominal':>8}{'coverage':>10}{'step min':>10}{'step max':>10}{'width':>8}{'inf':>7}"
          f"{'mse':>8}{'s':>7}")
    for row in rows:
        print(f"{row['model']:<16}{row['nominal']:>8.2f}{row['coverage']:>10.4f}{row['step_min']:>10.4f}"
              f"{row['step_max']:>10.4f}{row['width']:>8.3f}{row['infinite']:>7.3f}{row['mse']:>8.4f}{row['seconds']:>7.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
