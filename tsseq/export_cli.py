"""``tsseq export model.pt --format onnx --output model.onnx``: a saved neural model as a standalone graph.

The work is :mod:`tsseq.export`'s (see there what the graph takes and returns, and which
models cannot be exported and why). ``--format torch-export`` writes a ``torch.export``
program (``.pt2``) and its metadata beside it (``<output>.json``); without ``--format``
the output's suffix says which (``.onnx``, ``.pt2``; another: ONNX), and a ``--format``
that contradicts it is refused. The output is written
atomically; bad input (not a model file, a model that cannot be exported, an unwritable
output) exits 2 and leaves nothing at ``--output``. Imports nothing heavy at module level.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HELP = "export a saved neural model to ONNX or a torch.export program, with its scaling and window geometry"
FORMATS = ("onnx", "torch-export")
SUFFIXES = {".onnx": "onnx", ".pt2": "torch-export"}  # the format each names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from tsseq.cli import positive_int

    parser.add_argument("model", type=Path, help="a model file written by model.save()")
    parser.add_argument(
        "--format", choices=FORMATS,
        help="onnx or torch-export; default: from --output's suffix (.onnx, .pt2), else onnx",
    )  # fmt: skip
    parser.add_argument("--output", type=Path, required=True, help="the file to write, e.g. model.onnx or model.pt2")
    parser.add_argument("--opset", type=positive_int, metavar="N", help="ONNX opset (default: the exporter's own)")


def run(args: argparse.Namespace) -> int:
    from tsseq import export, io
    from tsseq.errors import ConfigError
    from tsseq.persistence import load

    named = SUFFIXES.get(args.output.suffix.lower())
    given, args.format = args.format, args.format or named or "onnx"
    if args.opset is not None and args.format != "onnx":
        raise ConfigError(f"--opset applies to --format onnx only; got --format {args.format}.")
    if given is not None and named is not None and given != named:  # a graph under a name that says otherwise
        other = next(suffix for suffix, kind in SUFFIXES.items() if kind == given)
        raise ConfigError(
            f"--output {str(args.output)!r} names a {named} file ({args.output.suffix}) but --format is {given}: give "
            f"--output a {other} name, or leave --format out."
        )
    planned = io.Outputs()  # only checks here (export writes its files itself): never over the model it reads
    planned.reads([args.model], "model file")
    planned.check(args.output, "exported model")
    if args.format == "torch-export":
        planned.check(export.metadata_path(args.output), "exported model's metadata")
    model = load(args.model)
    if args.format == "onnx":
        path = export.export_onnx(model, args.output, opset=args.opset)
    else:
        path = export.export_program(model, args.output)
    metadata = export.export_metadata(model)
    outputs = ", ".join(json.loads(metadata["tsseq.outputs"]))
    print(
        f"wrote {metadata['tsseq.model']} to {path}: windows (N, {metadata['tsseq.input_length']}, "
        f"{metadata['tsseq.channels']}) -> {outputs} over {metadata['tsseq.horizon']} steps",
        file=sys.stderr,
    )
    return 0

