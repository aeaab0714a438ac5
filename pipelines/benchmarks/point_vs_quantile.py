"""Does a distribution head cost point accuracy? The same recipe trained on a point loss and on others.

For each loss the model is trained with the same architecture, seed and budget; the
point forecast of a distribution head is its median (quantile head) or mean. On ETT it
reports MSE / MAE (standardised scale) and, for the distribution heads, CRPS and the
coverage of the 80% and 90% intervals; on M4 sMAPE / MASE / OWA and, with ``--interval``,
MSIS / coverage / ACD.

    TSSEQ_DATA_DIR=../shared/datasets python pipelines/benchmarks/point_vs_quantile.py \\
        --dataset ETTh1 --setting S --horizon 96 --model segrnn --losses mse quantile
    TSSEQ_DATA_DIR=../shared/datasets python pipelines/benchmarks/point_vs_quantile.py \\
        --dataset m4-hourly --model segrnn --losses mae quantile --epochs 10
"""

from __future__ import annotations

import argparse
import json
import time

import torch

import tsseq
from tsseq.protocols import M4_FREQUENCIES, evaluate_ett, evaluate_m4

# The published-protocol recipes of pipelines/benchmarks/: ETTh1 S (etth1_S96_recurrent.yaml)
# and M4 Hourly (m4_hourly_recurrent.yaml), with the loss left to the command line.
RECIPES = {
    ("ett", "segrnn"): dict(hidden_size=64, segment_length=24, training=dict(epochs=5, batch_size=64, learning_rate=0.003)),
    ("m4", "segrnn"): dict(
        input_length=336,
        hidden_size=256,
        segment_length=24,
        dropout=0.2,
        training=dict(epochs=10, batch_size=256, learning_rate=0.002, early_stopping_patience=3),
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ETTh1", help="ETTh1/ETTh2/ETTm1/ETTm2 or m4-<frequency>")
    parser.add_argument("--setting", default="S", choices=["S", "M"])
    parser.add_argument("--input-length", type=int, default=96, help="ETT only (M4 recipes fix their own)")
    parser.add_argument("--horizon", type=int, default=96, help="ETT only (M4 horizons are fixed)")
    parser.add_argument("--model", default="segrnn")
    parser.add_argument("--losses", nargs="+", default=["mse", "quantile"])
    parser.add_argument("--epochs", type=int, help="override the recipe's epochs")
    parser.add_argument("--interval", type=float, default=0.95, help="M4: nominal coverage scored (MSIS)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    protocol = "m4" if args.dataset.lower().startswith("m4-") else "ett"
    recipe = RECIPES.get((protocol, args.model), {})
    for loss in args.losses:
        params = {key: value for key, value in recipe.items() if key != "training"}
        training = {**recipe.get("training", {}), "loss": loss, "seed": args.seed, "progress": False}
        if args.epochs is not None:
            training["epochs"] = args.epochs
        started = time.perf_counter()
        if protocol == "ett":
            model = tsseq.create(
                args.model, input_length=args.input_length, horizon=args.horizon, training=training, **params
            )
            result = evaluate_ett(
                model, dataset=args.dataset, setting=args.setting, input_length=args.input_length,
                horizon=args.horizon, crps=model.probabilistic,
            )
        else:
            frequency = args.dataset.split("-", 1)[1].title()
            model = tsseq.create(args.model, horizon=M4_FREQUENCIES[frequency][0], training=training, **params)
            result = evaluate_m4(model, frequency=frequency, interval=args.interval if model.probabilistic else None)
        figures = {k: v for k, v in result.to_dict().items() if isinstance(v, float)}
        print(json.dumps({"loss": loss, "seconds": round(time.perf_counter() - started, 1), **figures}), flush=True)


if __name__ == "__main__":
    main()
