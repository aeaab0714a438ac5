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
``--pretrain-learning-rate`` sets the pretraining run's learning rate (default: the
recipe's forecasting one). The pretraining validation loss is printed beside that of
filling the hidden patches by linear interpolation between the visible values, so that
it can be read: 1.0 is what predicting the window's mean earns on the normalised scale.

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
    parser.add_argument("--pretrain-learning-rate", type=float, help="default: the recipe's learning rate")
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
    scratch = registry.create(config.name, **params).fit(train, validation=validation)
    rows["scratch"] = {**score(scratch), "seconds": time.perf_counter() - started}

    started = time.perf_counter()
    pretrained = registry.create(config.name, **params)
    pretraining = {"epochs": args.pretrain_epochs}
    if args.pretrain_learning_rate is not None:
        pretraining["learning_rate"] = args.pretrain_learning_rate
    pretrained.pretrain(train, validation=validation, mask_ratio=args.mask_ratio, training=pretraining)
    pretrain_seconds = time.perf_counter() - started
    probe = copy.deepcopy(pretrained)
    started = time.perf_counter()
    pretrained.fit(train, validation=validation)
    rows["pretrained+fine-tuned"] = {
        **score(pretrained),
        "seconds": time.perf_counter() - started,
        "pretrain_seconds": pretrain_seconds,
        "pretrain_val_loss": min(pretrained.pretraining_history_.val_loss),
        "pretrain_val_losses": list(pretrained.pretraining_history_.val_loss),
        "interpolation_val_loss": interpolation_loss(
            validation.to_numpy(), args.input_length, args.patch_length, args.mask_ratio, pretrained.pad_end
        ),
    }
    started = time.perf_counter()
    probe.fine_tune(train, validation=validation, freeze=["backbone"])
    rows["pretrained+linear-probe"] = {**score(probe), "seconds": time.perf_counter() - started}

    for name, row in rows.items():
        print(f"{name:24s} MSE {row['mse']:.4f} MAE {row['mae']:.4f} ({row['seconds']:.0f}s)", flush=True)
    row = rows["pretrained+fine-tuned"]
    print(
        f"pretraining: best validation loss {row['pretrain_val_loss']:.3f} of hidden patches "
        f"(linear interpolation {row['interpolation_val_loss']:.3f}, the window mean 1.0), {row['pretrain_seconds']:.0f}s"
    )
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


def interpolation_loss(values, input_length: int, patch_length: int, mask_ratio: float, pad_end: bool, seed: int = 0) -> float:
    """Mean squared error over the hidden patches of filling them by linear interpolation.

    The reference for the pretraining loss, on the model's own task: every window of
    ``values (T, C)``, RevIN-normalised per channel, cut into non-overlapping patches as
    PatchTST cuts them (``pad_end``), patches hidden by the pretraining's own
    :func:`~tsseq.nn.masked_pretraining.random_patch_mask`; a hidden value is interpolated
    between the nearest visible ones (the nearest one where it has a neighbour on one side).
    """
    import torch

    from tsseq.data.windows import make_windows
    from tsseq.nn.masked_pretraining import random_patch_mask
    from tsseq.nn.patching import patch
    from tsseq.nn.revin import RevIN

    windows = make_windows(torch.tensor(values, dtype=torch.float64), input_length).inputs  # (B, L, C); a copy: pandas' arrays are read-only
    normalized, _ = RevIN(windows.shape[2], affine=False).normalize(windows)  # (B, L, C)
    patches = patch(normalized, patch_length, patch_length, pad_end).flatten(0, 1)  # (B·C, N, P)
    hidden = random_patch_mask(*patches.shape[:2], mask_ratio, generator=torch.Generator().manual_seed(seed))  # (B·C, N)
    series = patches.flatten(1)  # (B·C, N·P)
    hidden = hidden.repeat_interleave(patch_length, dim=1)  # (B·C, N·P)
    steps = torch.arange(series.shape[1]).expand_as(series)
    previous = torch.where(hidden, -1, steps).cummax(dim=1).values  # last visible step at or before each step
    following = torch.where(hidden, series.shape[1], steps).flip(1).cummin(dim=1).values.flip(1)
    left = series.gather(1, previous.clamp(min=0))
    right = series.gather(1, following.clamp(max=series.shape[1] - 1))
    weight = (steps - previous).to(series.dtype) / (following - previous).clamp(min=1)  # int / int would be float32
    between = left + weight * (right - left)
    filled = torch.where(previous < 0, right, torch.where(following >= series.shape[1], left, between))
    return float((filled - series)[hidden].pow(2).mean())

if __name__ == "__main__":
    sys.exit(main())
