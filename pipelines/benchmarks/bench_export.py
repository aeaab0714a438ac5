"""Per-window forecast latency of exported models: onnxruntime against eager PyTorch, on the CPU, one thread each.

For each model of ``--models`` (default ``segrnn`` and ``patchtst``, their registered
architectures at ``--input-length`` 96 and ``--horizon`` 24), fitted for one epoch on
the data set ``--dataset`` (the weights do not change the cost), exported with
:func:`tsseq.export.export_onnx`, and for each batch size of ``--batch``:

* ``predict_windows``: the library call users make (NumPy windows in, NumPy forecasts
  out: scaling, the engine's batching, the module, scaling back);
* ``torch graph``: the export wrapper :class:`tsseq.export.ForecastGraph` called in
  eager PyTorch under ``torch.inference_mode`` (the same computation as the exported
  graph, without the library's Python around it);
* ``onnxruntime``: the exported ``.onnx`` file in an ``InferenceSession`` with one
  intra-op and one inter-op thread (CPU execution provider, default graph optimisations).

Each figure is the median over ``--repeats`` timed calls (after ``--warmup`` untimed
ones) of the call's wall time divided by the batch size, in microseconds per window;
torch runs on one thread (``torch.set_num_threads(1)``). The largest absolute
difference of onnxruntime's forecasts from ``predict_windows`` is printed beside them, and
onnxruntime's speed-up against each eager figure (``x library``, ``x graph``).
This is a benchmark, not a test: it prints figures and asserts nothing. Needs the
``export`` extra::

    python pipelines/benchmarks/bench_export.py [--models segrnn patchtst] [--batch 1 32 256] [--repeats 200]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def per_window_microseconds(call, batch: int, repeats: int, warmup: int) -> float:
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) / batch * 1e6


def fitted(name: str, frame, input_length: int, horizon: int):
    import tsseq

    training = {"epochs": 1, "batch_size": 64, "seed": 0, "threads": 1}
    model = tsseq.create(name, input_length=input_length, horizon=horizon, training=training)
    return model.fit(frame)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["segrnn", "patchtst"])
    parser.add_argument("--batch", nargs="+", type=int, default=[1, 32, 256])
    parser.add_argument("--dataset", default="co2", help="a catalog data set (tsseq.load); its first column")
    parser.add_argument("--input-length", type=int, default=96)
    parser.add_argument("--horizon", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()

    import onnxruntime
    import torch

    import tsseq
    from tsseq import export

    torch.set_num_threads(1)
    frame = tsseq.load(args.dataset).frame.iloc[:, :1].interpolate().dropna()
    values = frame.to_numpy()
    rng = np.random.default_rng(0)
    print(
        f"bench_export: {args.dataset} ({len(frame)} rows), L={args.input_length}, H={args.horizon}, one thread each, "
        f"median of {args.repeats} calls; torch {torch.__version__}, onnxruntime {onnxruntime.__version__}"
    )
    header = ("model", "batch", "predict_windows", "torch graph", "onnxruntime", "x library", "x graph", "max |diff|")
    print(" ".join(f"{label:{width}}" for label, width in zip(header, ("10", ">5", ">16", ">12", ">12", ">9", ">8", ">11"))))
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models:
            model = fitted(name, frame, args.input_length, args.horizon)
            path = export.export_onnx(model, Path(folder) / f"{name}.onnx")
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = options.inter_op_num_threads = 1
            options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
            session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            graph = export.forecast_graph(model)
            for batch in args.batch:
                starts = rng.integers(0, len(values) - args.input_length, size=batch)
                windows = np.stack([values[s : s + args.input_length] for s in starts]).astype(np.float32)
                inputs, tensor = windows.astype(np.float64), torch.from_numpy(windows)

                def eager_graph() -> None:
                    with torch.inference_mode():
                        graph(tensor)

                def library() -> np.ndarray:
                    return model.predict_windows(inputs, args.horizon)

                def onnx() -> np.ndarray:
                    return session.run(None, {"windows": windows})[0]

                timing = {"batch": batch, "repeats": args.repeats, "warmup": args.warmup}
                library_us, graph_us, onnx_us = (
                    per_window_microseconds(call, **timing) for call in (library, eager_graph, onnx)
                )
                difference = np.abs(onnx() - library()).max()
                print(
                    f"{name:10} {batch:5d} {library_us:14.1f}us {graph_us:10.1f}us {onnx_us:10.1f}us "
                    f"{library_us / onnx_us:8.1f}x {graph_us / onnx_us:7.1f}x {difference:11.2e}"
                )


if __name__ == "__main__":
    main()
