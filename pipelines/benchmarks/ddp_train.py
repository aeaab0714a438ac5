"""Data-parallel training of an LSTM forecaster with torchrun: one process per GPU (or CPU share).

Every process runs this script; the estimator's ``fit`` trains with
DistributedDataParallel in the shared engine (:mod:`tsseq.engine.distributed`), and
rank 0 alone prints the per-epoch losses (and writes the model with ``--save``).

Data: ETTh1 "S" (the OT column), the standard splits (train rows [0, 8640), validation
[8640, 11520) with L rows of context), from ``--data-dir``, else ``$TSSEQ_DATA_DIR``,
else the tsseq cache; ``--synthetic`` (or ETTh1 unavailable): a seeded series of the
same length with daily and weekly seasonality. Model: the registered ``lstm``
(``--hidden-size``, ``--layers``), L=96, H=24.

``--batch-size`` is the global batch: each of the ``W`` processes takes
``batch-size / W`` windows of every step, so the loss curve does not depend on ``W``
(up to float rounding; exactly the same steps as one process).

    # two CPU processes (gloo)
    torchrun --standalone --nproc_per_node=2 pipelines/benchmarks/ddp_train.py --device cpu --threads 1
    # one process per GPU (NCCL, cuda:LOCAL_RANK)
    torchrun --standalone --nproc_per_node=gpu pipelines/benchmarks/ddp_train.py --backend nccl
    # the same script without torchrun: one process
    python pipelines/benchmarks/ddp_train.py --device cpu
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import pandas as pd
import torch

import tsseq
from tsseq.data.catalog import load
from tsseq.data.synthetic import generate
from tsseq.engine import Callback, init_distributed
from tsseq.errors import DatasetUnavailableError

from timing import Stopwatch  # this folder's helper module

TRAIN_ROWS, VALIDATION_ROWS = 8640, 2880  # ETTh1's 12 and 4 months of hours


class EpochPrinter(Callback):
    """One line per epoch on the main process: losses, learning rate, time, global windows per second."""

    def __init__(self, windows: int) -> None:
        self.windows = windows

    def on_epoch_end(self, trainer, epoch, metrics):
        if not trainer.is_main_process:
            return
        print(
            f"epoch {epoch + 1:3d}/{trainer.config.epochs}  train {metrics['train_loss']:.5f}  "
            f"val {metrics.get('val_loss', float('nan')):.5f}  lr {metrics['lr']:.3g}  "
            f"{metrics['epoch_time_s']:6.2f} s  {self.windows / metrics['epoch_time_s']:8.0f} windows/s",
            flush=True,
        )


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="default: $TSSEQ_DATA_DIR, then the tsseq cache")
    parser.add_argument("--synthetic", action="store_true", help="a seeded synthetic series instead of ETTh1")
    parser.add_argument("--input-length", type=int, default=96)
    parser.add_argument("--horizon", type=int, default=24)
    parser.add_argument("--hidden-size", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64, help="global: windows per step over all processes")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--device", default="auto", help="auto (cuda:LOCAL_RANK when CUDA is there), cpu or cuda")
    parser.add_argument("--backend", choices=("auto", "nccl", "gloo"), default="auto",
                        help="auto: nccl when training on CUDA, else gloo")
    parser.add_argument("--precision", default="auto", help="auto, fp32, bf16 or fp16 (TrainingConfig.precision)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads per process (0: torch's default)")
    parser.add_argument("--checkpoint-dir", default=None, help="rank 0 writes last.pt there after every epoch")
    parser.add_argument("--save", type=Path, default=None, help="rank 0 saves the fitted estimator there")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def load_frames(args: argparse.Namespace) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Training rows and validation rows (with ``input_length`` rows of context before them)."""
    rows = TRAIN_ROWS + VALIDATION_ROWS
    frame, source = None, ""
    if not args.synthetic:
        try:
            frame, source = load("ETTh1", data_dir=args.data_dir).frame[["OT"]].iloc[:rows], "ETTh1 OT"
        except DatasetUnavailableError as error:
            source = f" (ETTh1 unavailable: {type(error).__name__})"
    if frame is None:
        synthetic = generate(rows, seasonalities=((24, 1.0), (168, 0.5)), noise=0.3, seed=args.seed).frame
        frame, source = synthetic, "synthetic: daily + weekly seasonality, noise 0.3" + source
    return frame.iloc[:TRAIN_ROWS], frame.iloc[TRAIN_ROWS - args.input_length :], source


def backend(args: argparse.Namespace) -> str:
    if args.backend != "auto":
        return args.backend
    on_gpu = args.device != "cpu" and torch.cuda.is_available()
    return "nccl" if on_gpu else "gloo"


def main() -> None:
    args = parse_arguments()
    if args.threads:
        torch.set_num_threads(args.threads)
    process = init_distributed(backend(args))  # rank 0 of 1 without torchrun
    train, validation, source = load_frames(args)
    windows = len(train) - args.input_length - args.horizon + 1
    if process.is_main_process:
        print("command: " + shlex.join(sys.argv))
        print(f"data: {source}; {len(train)} training rows ({windows} windows), {len(validation)} validation rows")
        print(
            f"processes: {process.world_size} ({backend(args) if process.world_size > 1 else 'alone'}), "
            f"global batch {args.batch_size} = {process.world_size} x {args.batch_size // process.world_size}; "
            f"torch {torch.__version__}, {torch.get_num_threads()} threads a process",
            flush=True,
        )
    training = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "clip_norm": 1.0,
        "device": args.device,
        "precision": args.precision,
        "checkpoint_dir": args.checkpoint_dir,
        "seed": args.seed,
        "progress": False,
    }
    model = tsseq.create(
        "lstm",
        input_length=args.input_length,
        horizon=args.horizon,
        hidden_size=args.hidden_size,
        num_layers=args.layers,
        training=training,
    )
    with Stopwatch() as fit:
        model.fit(train, validation=validation, callbacks=[EpochPrinter(windows)])
    if process.is_main_process:
        history = model.history_
        print(f"best epoch {history.best_epoch + 1}: val {history.val_loss[history.best_epoch]:.5f}; "
              f"fit {fit.seconds:.1f} s on {process.world_size} process(es)")
        if args.save is not None:
            model.save(args.save)
            print(f"saved {args.save}")
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
