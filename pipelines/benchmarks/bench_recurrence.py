"""Benchmark of tsseq's recurrence on CPU: forward + backward per batch against torch's fused nn.LSTM.

Batch 32, L = 96, C = 1 and 7, hidden 64, 2 layers, 2 threads (the defaults). Variants:

* ``nn.LSTM``: torch's fused kernel (oneDNN on CPU), the reference of every ratio;
* ``stack fused``: :class:`RecurrentLayerStack` on the same kernel, one call per layer;
* ``stack ours``: the stack on tsseq's recurrence with the LSTM cell (``fused=False``):
  all input projections in one product, then a loop whose backward pass is hand-derived;
* ``autograd loop``: the same cell stepped by a Python loop that autograd differentiates;
* ``nn.LSTMCell loop``: the textbook loop of torch cells, one ``nn.LSTMCell`` call per step;
* ``mut1 ours``: a MUT1 stack (no fused kernel exists), for scale;
* with ``--compile``: the autograd loop under ``torch.compile`` (its compile time printed).

Variants run in turn within each repeat (in a rotating order), so that load from other
processes spreads over all of them. Printed per variant: the median and the best time
in milliseconds, each with its ratio = nn.LSTM time / variant time (> 1: faster than
nn.LSTM); on a shared machine the best times show the speeds without others' load.
With tsseq installed (``pip install -e .``):

    python pipelines/benchmarks/bench_recurrence.py [--repeats 30] [--channels 1 7] [--compile]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch
from torch import nn

from tsseq.nn.cells import RecurrentCell
from tsseq.nn.recurrent import RecurrentLayerStack

from timing import Stopwatch, interleaved_repeats, median_and_best  # this folder's helper module

Variants = dict[str, tuple[Callable, nn.Module]]  # name -> (forward function of x, module with the weights)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--length", type=int, default=96)
    parser.add_argument("--channels", type=int, nargs="+", default=[1, 7])
    parser.add_argument("--hidden-size", type=int, default=64)
    parser.add_argument("--num-layers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--compile", action="store_true", help="also time the autograd loop under torch.compile")
    return parser.parse_args()


def autograd_loop(stack: RecurrentLayerStack, x: torch.Tensor) -> torch.Tensor:
    """The stack's layers stepped by the base-class loop that autograd differentiates."""
    for layer in stack.cells:
        cell = layer[0]
        state = cell.initial_state(x.shape[0], x)
        x, _ = RecurrentCell.scan(cell, cell.project_inputs(x), state)  # (B, L, H)
    return x


def lstm_cell_loop(cells: nn.ModuleList, x: torch.Tensor) -> torch.Tensor:
    """The textbook loop: one nn.LSTMCell call per layer and step."""
    states = [None] * len(cells)
    outputs = []
    for x_t in x.unbind(1):  # (B, C)
        for layer, cell in enumerate(cells):
            states[layer] = cell(x_t, states[layer])
            x_t = states[layer][0]  # (B, H)
        outputs.append(x_t)
    return torch.stack(outputs, 1)  # (B, L, H)


def build_variants(args: argparse.Namespace, channels: int) -> Variants:
    """Name -> (forward function of x, module whose parameters get gradients); all share nn.LSTM's weights."""
    hidden, layers = args.hidden_size, args.num_layers
    torch_lstm = nn.LSTM(channels, hidden, layers, batch_first=True)
    fused = RecurrentLayerStack(channels, hidden, cell="lstm", num_layers=layers, fused=True)
    ours = RecurrentLayerStack(channels, hidden, cell="lstm", num_layers=layers, fused=False)
    cells = nn.ModuleList(nn.LSTMCell(channels if layer == 0 else hidden, hidden) for layer in range(layers))
    for layer in range(layers):
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        weights = {name: getattr(torch_lstm, f"{name}_l{layer}") for name in names}
        for module in (fused.cells[layer][0], ours.cells[layer][0], cells[layer]):
            module.load_state_dict(weights)
    mut1 = RecurrentLayerStack(channels, hidden, cell="mut1", num_layers=layers)
    variants = {
        "nn.LSTM": (lambda x: torch_lstm(x)[0], torch_lstm),
        "stack fused": (lambda x: fused(x)[0], fused),
        "stack ours": (lambda x: ours(x)[0], ours),
        "autograd loop": (lambda x: autograd_loop(ours, x), ours),
        "nn.LSTMCell loop": (lambda x: lstm_cell_loop(cells, x), cells),
        "mut1 ours": (lambda x: mut1(x)[0], mut1),
    }
    if args.compile:
        compiled = torch.compile(lambda x: autograd_loop(ours, x))
        with Stopwatch() as compilation:
            compiled(torch.randn(args.batch_size, args.length, channels)).sum().backward()
        print(f"torch.compile of the autograd loop: {compilation.seconds:.1f} s to compile (first call)")
        variants["compiled loop"] = (compiled, ours)
    return variants


def check_agreement(variants: Variants, x: torch.Tensor) -> float:
    """Largest output difference of the LSTM variants from nn.LSTM (all share its weights)."""
    with torch.no_grad():
        reference = variants["nn.LSTM"][0](x)
        lstm_names = [name for name in variants if name not in ("nn.LSTM", "mut1 ours")]
        return max(float((variants[name][0](x) - reference).abs().max()) for name in lstm_names)


def forward_backward_seconds(forward: Callable, module: nn.Module, x: torch.Tensor) -> float:
    """Seconds of one forward pass of ``x`` ``(B, L, C)`` and the backward pass of a scalar loss."""
    module.zero_grad(set_to_none=True)
    with Stopwatch() as watch:
        forward(x).square().mean().backward()
    return watch.seconds


def time_variants(variants: Variants, x: torch.Tensor, args: argparse.Namespace) -> dict[str, list[float]]:
    """Seconds of forward + backward of every repeat per variant, variants interleaved within each repeat."""
    runs = {  # variant=variant binds each lambda to its own variant
        name: lambda repeat, variant=variant: forward_backward_seconds(*variant, x)
        for name, variant in variants.items()
    }
    return interleaved_repeats(runs, args.repeats, warmup=args.warmup)


def main() -> None:
    args = parse_arguments()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch_size}, L={args.length}, "
        f"hidden {args.hidden_size} x {args.num_layers} layers, forward + backward, median of {args.repeats} repeats"
    )
    for channels in args.channels:
        variants = build_variants(args, channels)
        x = torch.randn(args.batch_size, args.length, channels)
        print(f"\nC={channels}  (largest output difference from nn.LSTM: {check_agreement(variants, x):.1e})")
        times = time_variants(variants, x, args)
        reference, best_reference = median_and_best(times["nn.LSTM"])
        print(f"  {'variant':<18} {'median ms':>9} {'ratio':>7} {'best ms':>9} {'ratio':>7}")
        for name, variant_times in times.items():
            median, best = median_and_best(variant_times)
            median_figures = f"{median * 1e3:9.2f} {reference / median:6.2f}x"
            print(f"  {name:<18} {median_figures} {best * 1e3:9.2f} {best_reference / best:6.2f}x")


if __name__ == "__main__":
    main()
