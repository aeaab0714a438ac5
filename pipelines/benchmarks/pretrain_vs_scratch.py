"""Masked pretraining + fine-tuning against training from scratch, same epoch budget, ETTh1.

Both runs use the PatchTST architecture of ``etth1_{M,S}96_patchtst.yaml`` with
non-overlapping patches (``stride = patch_length``, as the official self-supervised
PatchTST: hidden patches must not leak through overlapping neighbours) on the standard
ETT split (train rows standardised with their statistics, validation rows for early
stopping, every test window scored):

* scratch: ``fit`` for ``--epochs`` epochs;
* pretrained: ``pretrain`` (masked-patch reconstruction, ``--mask-ratio``) on the same
  train rows for ``--pretrain-epochs``, then ``fit`` from the pretrained backbone for
  ``--epochs`` (full fine-tuning), and ``fine_tune(freeze=["backbone"])`` (linear probing)
  for ``--epochs`` from the same pretrained model.

"Same budget" = the same forecasting epochs; the pretraining epochs are reported apart.

    python pipelines/benchmarks/pretrain_vs_scratch.py --setting M --device cuda \\
        --epochs 20 --pretrain-epochs 20 --data-dir ../shared/datasets
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", choices=["M", "S"], default="M")
    parser.add_argument("--horizon", type=int, default=96)
    parser.add_argument("--input-length", type=int, default=336)
    parser.add_argument("--patch-length", type=int, default=16)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--epochs", type=int, default=2, help="forecasting epochs of every arm")
    parser.add_argument("--pretrain-epochs", type=int, default=2)
    parser.add_argument("--mask-ratio", type=float, default=0.4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    if args.data_dir:
        os.environ["TSSEQ_DATA_DIR"] = args.data_dir

    import numpy as np

    from tsseq import registry
    from tsseq.config import load_pipeline
    from tsseq.data.catalog import load
    from tsseq.data.scaling import Scaler
    from tsseq.data.splits import split_preset
    from tsseq.data.windows import make_windows
    from tsseq.protocols import ETT_TARGET

    job, _ = load_pipeline(HERE / f"etth1_{args.setting}96_patchtst.yaml")
    config = job.models[0]
    training = dict(config.params["training"], device=args.device, seed=args.seed, epochs=args.epochs)
    params = {
        **config.params,
        "training": training,
        "input_length": args.input_length,
        "horizon": args.horizon,
        "patch_length": args.patch_length,
        "stride": args.patch_length,
    }
    frame = load("ETTh1").frame
    if args.setting == "S":
        frame = frame[[ETT_TARGET]]
    split = split_preset(frame, "ETTh1", input_length=args.input_length)
    scaler = Scaler("standard").fit(split.train)
    train, validation, test = (scaler.transform(part) for part in (split.train, split.validation, split.test))
    windows = make_windows(test.to_numpy(), args.input_length, args.horizon)
    inputs, targets = windows.inputs.numpy(), windows.targets.numpy()

    def score(model) -> dict:
        predictions = np.concatenate([model.predict_windows(inputs[i : i + 256], args.horizon) for i in range(0, len(inputs), 256)])
        return {"mse": float(np.mean((predictions - targets) ** 2)), "mae": float(np.mean(np.abs(predictions - targets)))}

    rows = {}
    started = time.perf_counter()
    scratch = registry.create(config.name, **params).fit(train, validation)
    rows["scratch"] = {**score(scratch), "seconds": time.perf_counter() - started}

    started = time.perf_counter()
    pretrained = registry.create(config.name, **params)
    pretrained.pretrain(train, validation, mask_ratio=args.mask_ratio, training={"epochs": args.pretrain_epochs})
    pretrain_seconds = time.perf_counter() - started
    probe = copy.deepcopy(pretrained)
    started = time.perf_counter()
    pretrained.fit(train, validation)
    rows["pretrained+fine-tuned"] = {
        **score(pretrained),
        "seconds": time.perf_counter() - started,
        "pretrain_seconds": pretrain_seconds,
        "pretrain_val_loss": pretrained.pretraining_history_.val_loss[-1],
    }
    started = time.perf_counter()
    probe.fine_tune(train, validation, freeze=["backbone"])
    rows["pretrained+linear-probe"] = {**score(probe), "seconds": time.perf_counter() - started}

    for name, row in rows.items():
        print(f"{name:24s} MSE {row['mse']:.4f} MAE {row['mae']:.4f} ({row['seconds']:.0f}s)", flush=True)
    print(
        f"setting {args.setting}, L={args.input_length}, H={args.horizon}, patches {args.patch_length} (stride = length), "
        f"{args.epochs} forecasting epochs per arm, {args.pretrain_epochs} pretraining epochs, mask ratio {args.mask_ratio}, "
        f"{len(inputs)} test windows"
    )
    if args.output:
        from tsseq.io import write_text

        report = {"args": {k: str(v) for k, v in vars(args).items()}, "params": params, "results": rows}
        write_text(args.output, json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
