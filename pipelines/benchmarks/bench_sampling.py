"""What sample paths cost: ``sample(H, n)`` for every series of a data set, per decoder kind.

Each model is trained briefly (``--epochs``; the cost of drawing does not depend on how
well it was trained) with a distribution loss on the long frame of a catalog data set,
then ``sample(horizon, n)`` draws ``n`` paths for every series; the median wall time of
``--repeats`` draws is reported with the paths per second. Direct heads (``segrnn``)
draw every step from its marginal in one forward pass; the autoregressive decoders
(``gru`` with the recursive head, ``transformer_seq2seq``, ``decoder_only``) draw
ancestrally, one decoder step per forecast step (per patch for ``decoder_only``).

    TSSEQ_DATA_DIR=../shared/datasets python pipelines/benchmarks/bench_sampling.py \\
        --dataset m4-hourly --horizon 48 --samples 100
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

import tsseq

MODELS = {
    "segrnn (direct)": ("segrnn", dict(hidden_size=64, segment_length=24)),
    "gru (recursive)": ("gru", dict(hidden_size=64, num_layers=1, head="recursive")),
    "transformer_seq2seq": ("transformer_seq2seq", dict(hidden_size=32, n_heads=4)),
    "decoder_only (patches of 24)": ("decoder_only", dict(hidden_size=32, n_heads=4, patch_length=24)),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="m4-hourly")
    parser.add_argument("--horizon", type=int, default=48)
    parser.add_argument("--input-length", type=int, default=96)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--loss", default="normal")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    frame = tsseq.load(args.dataset).frame
    n_series = frame.index.get_level_values(0).nunique() if frame.index.nlevels > 1 else 1
    for label in args.models:
        name, params = MODELS[label]
        training = dict(epochs=args.epochs, loss=args.loss, batch_size=256, device=args.device, threads=args.threads, progress=False)
        model = tsseq.create(name, input_length=args.input_length, horizon=args.horizon, training=training, **params)
        started = time.perf_counter()
        model.fit(frame)
        fit_seconds = time.perf_counter() - started
        times = []
        for repeat in range(args.repeats):
            started = time.perf_counter()
            paths = model.sample(args.horizon, args.samples, seed=repeat)
            times.append(time.perf_counter() - started)
        seconds = statistics.median(times)
        print(json.dumps({
            "model": label, "series": n_series, "samples": args.samples, "horizon": args.horizon,
            "rows": len(paths), "sample_seconds": round(seconds, 2), "paths_per_second": round(n_series * args.samples / seconds),
            "fit_seconds": round(fit_seconds, 1), "device": str(model.training_config().device),
        }), flush=True)


if __name__ == "__main__":
    main()
