"""Token (Chronos-style) forecaster on M4: greedy, beam search and the median of sampled paths; CRPS; decoding cost.

One global :class:`tsseq.estimators.tokens.TokenForecaster` (a decoder-only transformer
over mean-scaled, quantized values; ``--backbone gru`` for the recurrent one) is trained on
the training part of every series of one M4 frequency (default Hourly: 414 series,
horizon 48, season 24) and decoded from the last ``--input-length`` values of each series
four ways, all from the same fitted model:

* greedy: the most probable bin at every step;
* beam: the best path of a beam search of width ``--width``;
* median: the per-step median of ``--samples`` paths drawn ancestrally (seed 0);
* the sampled paths as a distribution: CRPS (``tsseq.metrics.crps_from_samples``),
  scaled per series by the MASE denominator (so that a point forecast's scaled CRPS
  would be its MASE), and the 95% interval of the paths (coverage, MSIS as in M4).

sMAPE and MASE follow :func:`tsseq.protocols.evaluate_m4` (the same per-series scales);
OWA is against Naive2 on the same series. "quantization floor" is the sMAPE of the test
values themselves after tokenizing and detokenizing them with each series' context scale:
no forecast through these bins can do better. The wall times are of the calls on this
machine (``--device``; sampling of all series, then the beam search), threads as given.

    python pipelines/benchmarks/m4_tokens.py --epochs 3 --data-dir ../shared/datasets
    python pipelines/benchmarks/m4_tokens.py --series-limit 20 --epochs 1    # a quick check
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frequency", default="Hourly", help="M4 frequency (data set m4-<frequency>)")
    parser.add_argument("--data-dir", help="default: TSSEQ_DATA_DIR")
    parser.add_argument("--series-limit", type=int, help="the first N series only (quick runs)")
    parser.add_argument("--input-length", type=int, default=96, help="context rows (96: four days of hours)")
    parser.add_argument("--backbone", choices=["transformer", "gru"], default="transformer")
    parser.add_argument("--bins", type=int, default=1023)
    parser.add_argument("--limit", type=float, default=5.0, help="outermost bin centres, in context mean |x|")
    parser.add_argument("--hidden-size", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--stride", type=int, default=24, help="rows between training windows")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--lr-schedule", default="cosine", help="per epoch, as TrainingConfig.lr_schedule")
    parser.add_argument("--width", type=int, default=4, help="beam width")
    parser.add_argument("--samples", type=int, default=100, help="sampled paths per series")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads for training")
    parser.add_argument(
        "--decode-threads", type=int, default=1, help="torch CPU threads for decoding (small ops: one is often faster)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, help="also write the figures as JSON")
    args = parser.parse_args(argv)
    if args.data_dir:
        os.environ["TSSEQ_DATA_DIR"] = args.data_dir

    import numpy as np
    import torch

    from tsseq import metrics
    from tsseq.baselines import Naive2
    from tsseq.data.catalog import load
    from tsseq.estimators.tokens import TokenForecaster
    from tsseq.nn.tokens import ValueTokenizer
    from tsseq.protocols import M4_FREQUENCIES

    torch.set_num_threads(args.threads)
    horizon, season = M4_FREQUENCIES[args.frequency]
    dataset = load(f"m4-{args.frequency.lower()}")
    train, test = dataset.frame, dataset.test
    ids = train.index.get_level_values(0).unique()
    if args.series_limit:
        ids = ids[: args.series_limit]
        train, test = train.loc[list(ids)], test.loc[list(ids)]
    groups = [train.xs(i, level=0).to_numpy(dtype=np.float64)[:, 0] for i in ids]
    truth = np.stack([test.xs(i, level=0).to_numpy(dtype=np.float64)[:horizon, 0] for i in ids])  # (S, H)
    scales = np.stack([metrics.seasonal_naive_scale(values, season) for values in groups])[:, None]  # (S, 1)

    model = TokenForecaster(
        input_length=args.input_length,
        horizon=horizon,
        n_bins=args.bins,
        limit=args.limit,
        backbone=args.backbone,
        hidden_size=args.hidden_size,
        n_heads=args.heads,
        num_layers=args.layers,
        num_samples=args.samples,
        beam_width=args.width,
        stride=args.stride,
        training={
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "learning_rate": args.learning_rate,
            "lr_schedule": args.lr_schedule,
            "clip_norm": 1.0,
            "device": args.device,
            "seed": args.seed,
            "progress": False,
        },
    )
    started, cpu_started = time.perf_counter(), time.process_time()
    model.fit(train)
    fit_seconds, fit_cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    torch.set_num_threads(args.decode_threads)

    def per_series(frame) -> np.ndarray:  # long frame (series, timestamp) -> (S, H) in the order of ids
        return np.stack([frame.xs(i, level=0).to_numpy(dtype=np.float64)[:, 0] for i in ids])

    started = time.perf_counter()
    greedy = per_series(model.set_params(point="greedy").predict(horizon))
    greedy_seconds = time.perf_counter() - started
    started = time.perf_counter()
    beams, log_probs = model.beam_search(horizon, width=args.width)
    beam_seconds = time.perf_counter() - started
    best = per_series(beams.xs(0, level="beam"))
    started = time.perf_counter()
    paths = model.sample(horizon, args.samples, seed=0)
    sample_seconds = time.perf_counter() - started
    draws = np.stack([paths.xs(i, level=0).to_numpy()[:, 0].reshape(args.samples, horizon) for i in ids], axis=1)
    # draws: (n, S, H), the paths of every series
    median = np.median(draws, axis=0)
    naive2 = per_series(Naive2(season_length=season).fit(train).predict(horizon))

    def point_scores(forecast: np.ndarray) -> dict[str, float]:
        mase = metrics.mase(truth, forecast, scale=scales, season_length=season)
        return {"smape": metrics.smape(truth, forecast), "mase": mase}

    reference = point_scores(naive2)
    rows = {"greedy": greedy, f"beam (width {args.width}, best path)": best, f"median of {args.samples} paths": median}
    table = {}
    for name, forecast in rows.items():
        scores = point_scores(forecast)
        scores["owa"] = metrics.owa(scores["smape"], scores["mase"], reference["smape"], reference["mase"])
        table[name] = scores
    table["naive2"] = {**reference, "owa": 1.0}

    scaled_crps = metrics.crps_from_samples(truth / scales, draws / scales[None])
    lower, upper = np.quantile(draws, [0.025, 0.975], axis=0)
    tokenizer = ValueTokenizer(args.bins, args.limit)
    context = torch.from_numpy(np.stack([values[-args.input_length :] for values in groups]))
    context_scale = tokenizer.scale(context)
    quantized = tokenizer.detokenize(tokenizer.tokenize(torch.from_numpy(truth), context_scale), context_scale).numpy()
    distribution = {
        "scaled_crps": scaled_crps,
        "coverage_95": metrics.coverage(truth, lower, upper),
        "msis_95": metrics.msis(truth, lower, upper, scale=scales, season_length=season, alpha=0.05),
        "quantization_floor_smape": metrics.smape(truth, quantized),
        "mean_best_beam_log_prob": float(log_probs.xs(0, level="beam").to_numpy().mean()),
    }
    timing = {
        "fit_s": fit_seconds,
        "fit_cpu_s": fit_cpu_seconds,
        "greedy_s": greedy_seconds,
        f"beam_width_{args.width}_s": beam_seconds,
        f"sample_{args.samples}_paths_s": sample_seconds,
        "epochs_run": len(model.history_.train_loss),
        "train_loss": model.history_.train_loss,
        "val_loss": model.history_.val_loss,
    }

    print(
        f"m4-{args.frequency.lower()}: {len(ids)} series, H={horizon}, context {args.input_length}, "
        f"{args.backbone} d_model={args.hidden_size} x{args.layers}, V={args.bins} bins over +-{args.limit}, "
        f"{args.epochs} epochs (stride {args.stride}), device={args.device}, threads {args.threads} (training) / "
        f"{args.decode_threads} (decoding)"
    )
    print(f"{'':34s}{'sMAPE':>8s}{'MASE':>8s}{'OWA':>8s}")
    for name, scores in table.items():
        print(f"{name:34s}{scores['smape']:8.3f}{scores['mase']:8.3f}{scores['owa']:8.3f}")
    print(
        f"sampled distribution: scaled CRPS {distribution['scaled_crps']:.3f}, 95% coverage "
        f"{distribution['coverage_95']:.3f}, MSIS {distribution['msis_95']:.3f}; quantization floor sMAPE "
        f"{distribution['quantization_floor_smape']:.3f}; mean best-beam log-prob "
        f"{distribution['mean_best_beam_log_prob']:.1f}"
    )
    print(
        f"wall time: fit {fit_seconds:.0f} s ({fit_cpu_seconds:.0f} s of CPU); greedy {greedy_seconds:.1f} s; beam search width {args.width} "
        f"{beam_seconds:.1f} s; {args.samples} sampled paths x {horizon} steps x {len(ids)} series "
        f"{sample_seconds:.1f} s"
    )
    losses = [round(x, 3) for x in model.history_.train_loss]
    print(f"cross-entropy per epoch: train {losses}, validation {[round(x, 3) for x in model.history_.val_loss or []]}")
    if args.output:
        figures = {"args": {**vars(args), "output": str(args.output)}, "points": table}
        args.output.write_text(json.dumps({**figures, "distribution": distribution, "timing": timing}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
