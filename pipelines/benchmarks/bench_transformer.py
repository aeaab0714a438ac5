"""Training speed and peak memory of the transformer forecasters against the input length.

For ``L`` in ``--lengths`` (default 96, 336, 720) and three models of the same width
(d_model 16, 4 heads, d_ff 128, 3 layers, C = 7 channels, H = 96, random windows):

* ``point``: :class:`~tsseq.nn.encoder_forecaster.EncoderForecaster`, one token per
  time step carrying all channels (``L`` tokens of ``B`` sequences);
* ``patch1``: :class:`~tsseq.nn.patchtst.PatchTST` with patches of one step
  (``P = S = 1``): channel-independent, ``L + 1`` tokens of ``B·C`` sequences;
* ``patchtst``: the same with ``P = 16``, ``S = 8``: ``L / 8 + 1`` tokens.

``patch1`` against ``patchtst`` is the effect of patching alone (same model, tokens
``~S`` times fewer): the time per window should fall by about ``S`` or more (the
attention part by ``S²``). Attention runs through
``scaled_dot_product_attention`` (residual attention, which needs the explicit
softmax, is off unless ``--residual-attention``), so on CUDA the memory-efficient
kernels keep memory linear in the tokens.

Each configuration runs in a fresh subprocess: ``--batches`` training steps (forward,
loss, backward, Adam) after ``--warmup`` untimed ones. Reported: training windows per
second, and peak memory of those steps:

* CUDA: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``
  (tensors only, not the allocator's cache or the CUDA context);
* CPU: growth of the process's peak resident set (``resource.getrusage(...).ru_maxrss``
  after the steps minus before the first, warm-up included, the model and data being
  built already; it includes Adam's state). The
  peak is a high-water mark of the whole process, which is why each configuration
  has a process of its own; allocator reuse makes it a lower bound of what was touched.

    python pipelines/benchmarks/bench_transformer.py --device cuda --batches 20
    python pipelines/benchmarks/bench_transformer.py --device cpu --threads 2   # short default
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

MODELS = ("point", "patch1", "patchtst")
CHANNELS, HORIZON = 7, 96


def build(model: str, length: int, residual_attention: bool):
    from tsseq.nn.encoder_forecaster import EncoderForecaster
    from tsseq.nn.patchtst import PatchTST

    sizes = dict(d_model=16, n_heads=4, d_ff=128, n_layers=3, dropout=0.0)
    if model == "point":
        return EncoderForecaster(CHANNELS, length, HORIZON, norm="batch", norm_first=False, **sizes), length
    patch, stride = (1, 1) if model == "patch1" else (16, 8)
    module = PatchTST(CHANNELS, length, HORIZON, patch_length=patch, stride=stride,
                      residual_attention=residual_attention, **sizes)
    return module, module.n_patches


def measure(args: argparse.Namespace) -> dict:
    """One configuration, in this process."""
    import resource
    import time

    import torch

    torch.manual_seed(0)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    module, tokens = build(args.model, args.length, args.residual_attention)
    module = module.to(device).train()
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-4)
    inputs = torch.randn(args.batch_size, args.length, CHANNELS, device=device)
    targets = torch.randn(args.batch_size, HORIZON, CHANNELS, device=device)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.mse_loss(module(inputs), targets).backward()
        optimizer.step()

    cuda = device.type == "cuda"
    # before the first step: the peak of a step is reached in the warm-up already
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    for _ in range(args.warmup):
        step()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats(device)

    started = time.perf_counter()
    for _ in range(args.batches):
        step()
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    if cuda:
        peak_mib = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        peak_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    return {
        "model": args.model,
        "L": args.length,
        "tokens": tokens,
        "sequences_per_batch": args.batch_size * (1 if args.model == "point" else CHANNELS),
        "windows_per_s": args.batch_size * args.batches / seconds,
        "ms_per_window": 1000 * seconds / (args.batch_size * args.batches),
        "peak_mib": peak_mib,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--lengths", type=int, nargs="+", default=[96, 336, 720])
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--batch-size", type=int, help="default: 128 on CUDA, 8 on CPU")
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, help="torch.set_num_threads in each run (CPU)")
    parser.add_argument("--residual-attention", action="store_true", help="PatchTST's residual attention (explicit softmax)")
    parser.add_argument("--epochs", type=int, help="unused here (accepted for a uniform command line)")
    parser.add_argument("--data-dir", help="unused: random windows (accepted for a uniform command line)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON too")
    parser.add_argument("--one", nargs=2, metavar=("MODEL", "L"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.batch_size is None:
        args.batch_size = 128 if args.device.startswith("cuda") else 8
    if args.one:
        args.model, args.length = args.one[0], int(args.one[1])
        print(json.dumps(measure(args)))
        return 0
    rows = []
    for length in args.lengths:
        for model in args.models:
            command = [sys.executable, __file__, "--one", model, str(length), "--device", args.device,
                       "--batch-size", str(args.batch_size), "--batches", str(args.batches), "--warmup", str(args.warmup)]
            if args.threads:
                command += ["--threads", str(args.threads)]
            if args.residual_attention:
                command.append("--residual-attention")
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                row = {"model": model, "L": length, "error": done.stderr.strip().splitlines()[-1]}
            else:
                row = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append(row)
            if "error" in row:
                print(f"{model:9s} L={length:4d}  failed: {row['error']}", flush=True)
            else:
                print(
                    f"{model:9s} L={length:4d} tokens={row['tokens']:4d} x {row['sequences_per_batch']:4d} seq  "
                    f"{row['windows_per_s']:9.1f} windows/s  {row['ms_per_window']:8.3f} ms/window  "
                    f"peak {row['peak_mib']:8.1f} MiB",
                    flush=True,
                )
    by = {(row["model"], row["L"]): row for row in rows if "error" not in row}
    for length in args.lengths:
        if ("patch1", length) in by and ("patchtst", length) in by:
            ratio = by[("patch1", length)]["ms_per_window"] / by[("patchtst", length)]["ms_per_window"]
            print(f"L={length}: patching (P=16, S=8) is {ratio:.1f}x faster per window than one-step patches (stride 8)")
    print(f"device {args.device}, batch {args.batch_size} windows, {args.batches} timed steps after {args.warmup} warm-up")
    if args.json:
        print(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
