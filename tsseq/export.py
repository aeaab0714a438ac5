r"""Fitted neural forecasters as standalone graphs: ONNX and ``torch.export`` programs.

An exported model runs where neither Python nor tsseq is installed (onnxruntime in C++,
C#, Java, JavaScript) and forecasts exactly what :meth:`predict_windows` does:

* input ``windows``: raw-scale windows ``(N, L, C)`` float32, ``N`` dynamic, ``L`` the
  model's ``input_length``, ``C`` its channels in the order of ``columns``; NaN marks an
  unobserved value (it becomes 0 after scaling, as in tsseq);
* output ``forecast``: raw-scale point forecasts ``(N, H, C)`` float32, ``H`` the
  model's ``horizon``; for a probabilistic model also
* ``quantiles`` ``(N, H, C, Q)`` (``training.loss="quantile"``, at the training levels
  ``quantile_levels``), or ``parameters`` ``(N, H, C, P)`` (``"normal"``: loc, scale;
  ``"student_t"``: loc, scale, df; ``"negative_binomial"``: mean, dispersion), the
  distribution on the data's scale: any quantile follows from them (e.g.
  ``loc + scale * Phi^{-1}(tau)``), and the graph needs no inverse CDF that ONNX lacks.

The graph holds the whole path (:class:`ForecastGraph`): the estimator's standardisation
``x' = (x - center) / scale`` (in float64, as tsseq computes it), the module (RevIN and
the distribution head inside it), and the map back ``y = center + scale * y'``. The
window geometry and what the outputs mean travel with it (:func:`export_metadata`): in
the ONNX file's ``metadata_props``, and for a ``.pt2`` program inside the archive and in
a JSON file beside it (``model.pt2.json``).

What cannot be exported says why (:class:`ExportError`): models that are not torch
modules (AR, the baselines), wrappers of several models (ensemble, conformal, auto),
token models (their forecast is the median of sampled paths or a beam search), a model
fitted with covariates (its windows carry a packed, standardised covariate block and
calendar codes derived from timestamps, which the graph's callers would have to rebuild),
a model fitted on many series (its scaling is per series), and a PatchTST that was only
pretrained. Sample paths are never exported: ancestral sampling needs a random number
generator inside the rollout; the exported recurrent and autoregressive decoders
(recursive head, ``seq2seq``, ``transformer_seq2seq``, ``decoder_only``) unroll the
deterministic point rollout over the horizon, as ``predict`` runs it.

Needs the ``export`` extra (``pip install "tsseq[export]"``: onnx, onnxscript for
``torch.onnx.export``'s exporter; onnxruntime to run the result).
"""

from __future__ import annotations

import contextlib
import copy
import io as io_bytes
import json
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from tsseq import io
from tsseq.engine.distributions import Affine, OutputDistribution
from tsseq.errors import TsseqError

FORMAT = "tsseq-export/1"
INPUT = "windows"
EXAMPLE_BATCH = 3  # the batch traced; the exported batch dimension is dynamic
# What each distribution's parameters are, in order, on the data's scale.
PARAMETER_NAMES = {
    "normal": ["loc", "scale"],
    "student_t": ["loc", "scale", "df"],
    "negative_binomial": ["mean", "dispersion"],
}
METADATA_FILE = "tsseq.json"  # inside a .pt2 archive (torch.export.save's extra_files)


class ExportError(TsseqError, ValueError):
    """A model that cannot be exported; the message names it and says why."""


class ForecastGraph(nn.Module):
    r"""Raw windows ``(N, L, C)`` float32 -> raw forecasts ``(N, H, C)`` (and quantiles or parameters).

    .. math::
        x' = \mathrm{float32}((x - c) / s), \quad x' \leftarrow 0 \text{ where unobserved}, \quad
        y' = f(x'), \quad y = c + s \, y'

    ``c``, ``s`` ``(C,)``: the estimator's standardisation of the fitted series (float64,
    as tsseq applies it, so that the module sees bit for bit the inputs it sees in
    Python); ``f``: the fitted module, whose RevIN and distribution head are inside it.
    """

    def __init__(self, module: nn.Module, output: OutputDistribution, center: np.ndarray, scale: np.ndarray) -> None:
        super().__init__()
        self.module, self.output = module, output
        self.register_buffer("center", torch.tensor(np.asarray(center, dtype=np.float64)))  # (C,)
        self.register_buffer("scale", torch.tensor(np.asarray(scale, dtype=np.float64)))  # (C,)
        # Counts are never shifted (their scaling is the identity); the others take the shift.
        self.shifted = bool(np.any(center))
        self.median = _median_between(output)

    def forward(self, windows: Tensor) -> tuple[Tensor, ...]:
        scaled = ((windows.double() - self.center) / self.scale).float()  # (N, L, C)
        scaled = torch.where(torch.isnan(scaled), torch.zeros_like(scaled), scaled)  # unobserved inputs are 0
        outputs = self.module(scaled).double()  # (N, H, C) or (N, H, C, P), RevIN undone inside
        data_scale = Affine(self.center if self.shifted else None, self.scale)
        if self.output.is_point:
            return (data_scale.values(outputs).float(),)
        params = self.output.affine(outputs, data_scale)  # (N, H, C, P) on the data's scale
        return self._point(params).float(), params.float()

    def _point(self, params: Tensor) -> Tensor:
        if self.median is None:
            return self.output.point(params)
        lower, weight = self.median  # constants: ONNX has no searchsorted to find them at run time
        return params[..., lower] + (params[..., lower + 1] - params[..., lower]) * weight


def _median_between(output: OutputDistribution) -> tuple[int, float] | None:
    """For quantile levels without 0.5: the level below it and the interpolation weight, as the output reads it."""
    if output.name != "quantile" or 0.5 in output.levels:
        return None
    levels = np.asarray(output.levels)
    lower = int(np.clip(np.searchsorted(levels, 0.5, side="right") - 1, 0, len(levels) - 2))
    weight = (0.5 - levels[lower]) / (levels[lower + 1] - levels[lower])
    return lower, float(np.clip(weight, 0.0, 1.0))  # clamped: the outermost level beyond the known ones


def forecast_graph(model: Any) -> ForecastGraph:
    """The export wrapper of a fitted neural forecaster, or an :class:`ExportError` saying why there is none."""
    _check_exportable(model)
    # A copy, so that exporting never changes the estimator; no gradients, so that the program's outputs need none.
    module = copy.deepcopy(model.module_).cpu().float().eval().requires_grad_(False)
    return ForecastGraph(module, model.output_distribution(), model.center_[0], model.scale_[0]).eval()


def export_metadata(model: Any) -> dict[str, str]:
    """What an exported graph needs beside it: geometry, columns, outputs, the model's name and parameters.

    String values (ONNX ``metadata_props`` are strings); lists and mappings as JSON.
    """
    from tsseq import __version__ as version
    from tsseq.persistence import _jsonable
    from tsseq.registry import name_of

    output = model.output_distribution()
    outputs = ["forecast"] + ([] if output.is_point else ["quantiles" if output.name == "quantile" else "parameters"])
    metadata = {
        "tsseq.format": FORMAT,
        "tsseq.version": version,
        "tsseq.model": name_of(model),
        "tsseq.params": json.dumps(_jsonable(model.get_params(deep=False)), sort_keys=True, default=repr),
        "tsseq.input_length": str(model.input_length),
        "tsseq.horizon": str(model.horizon),
        "tsseq.channels": str(model.n_channels_),
        "tsseq.columns": json.dumps([str(column) for column in model.layout_.columns]),
        "tsseq.freq": str(model.layout_.freq),
        "tsseq.input": INPUT,
        "tsseq.outputs": json.dumps(outputs),
        "tsseq.distribution": output.name,
        "tsseq.center": json.dumps(np.asarray(model.center_[0], dtype=float).tolist()),
        "tsseq.scale": json.dumps(np.asarray(model.scale_[0], dtype=float).tolist()),
    }
    if output.name == "quantile":
        metadata["tsseq.quantile_levels"] = json.dumps(list(output.levels))
    if output.name in PARAMETER_NAMES:
        metadata["tsseq.parameter_names"] = json.dumps(PARAMETER_NAMES[output.name])
    return metadata


def export_onnx(model: Any, path: str | Path, *, opset: int | None = None) -> Path:
    """Write ``model`` as an ONNX graph to ``path`` (atomically), its metadata in ``metadata_props``.

    ``opset``: the ONNX opset (default: the exporter's own). Returns the path.
    """
    onnx = _require("onnx")
    _require("onnxscript")
    graph = forecast_graph(model)
    metadata = export_metadata(model)
    example = _example_windows(model)
    outputs = json.loads(metadata["tsseq.outputs"])
    batch = torch.export.Dim("batch", min=1)
    with torch.no_grad(), _quiet_exporter():
        program = torch.onnx.export(
            graph,
            (example,),
            dynamo=True,
            input_names=[INPUT],
            output_names=outputs,
            opset_version=opset,
            dynamic_shapes=({0: batch},),
            external_data=False,
            verbose=False,
        )
    proto = program.model_proto
    written = next(entry.version for entry in proto.opset_import if entry.domain in ("", "ai.onnx"))
    if opset is not None and written != opset:  # the exporter falls back to its own opset when converting fails
        raise ExportError(
            f"The 'opset' parameter (--opset): this graph cannot be converted to opset {opset}; the exporter "
            f"made opset {written}. Ask for a later opset, or leave it out for the exporter's own."
        )
    del proto.metadata_props[:]
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    geometry = f"(N, {model.input_length}, {model.n_channels_})"
    proto.doc_string = f"tsseq {metadata['tsseq.model']}: raw windows {geometry} -> raw forecasts ({', '.join(outputs)})"
    return io.write_atomic(path, lambda temporary: onnx.save_model(proto, str(temporary)))


def export_program(model: Any, path: str | Path) -> Path:
    """Write ``model`` as a ``torch.export`` program (``.pt2``) to ``path``, and its metadata beside it.

    The metadata is inside the archive (``extra_files``, :data:`METADATA_FILE`) and in
    ``<path>.json``; ``torch.export.load(path).module()(windows)`` runs it. Returns the path.
    """
    graph = forecast_graph(model)
    metadata = export_metadata(model)
    program = _torch_export(graph, _example_windows(model))
    text = json.dumps(metadata, indent=2)
    path = Path(path)
    with io.outputs() as out:
        out.add(path, lambda temporary: temporary.write_bytes(_program_bytes(program, text)), "program")
        out.add_text(metadata_path(path), text + "\n", "program metadata")
    return path


def _program_bytes(program: torch.export.ExportedProgram, metadata: str) -> bytes:
    # Through a buffer: torch.export.save warns about a file name that does not end in .pt2, as the temporary does not.
    buffer = io_bytes.BytesIO()
    torch.export.save(program, buffer, extra_files={METADATA_FILE: metadata})
    return buffer.getvalue()


def metadata_path(program: str | Path) -> Path:
    """Where :func:`export_program` writes the metadata beside ``program``: ``<program>.json``."""
    program = Path(program)
    return program.with_name(program.name + ".json")


def read_metadata(path: str | Path) -> dict[str, str]:
    """The tsseq metadata of an exported ``.onnx`` file or ``.pt2`` program."""
    path = Path(path)
    if path.suffix.lower() == ".onnx":
        onnx = _require("onnx")
        proto = onnx.load(str(path), load_external_data=False)
        return {entry.key: entry.value for entry in proto.metadata_props if entry.key.startswith("tsseq.")}
    extra = {METADATA_FILE: ""}
    torch.export.load(path, extra_files=extra)
    return json.loads(extra[METADATA_FILE])


def _torch_export(graph: ForecastGraph, example: Tensor) -> torch.export.ExportedProgram:
    batch = torch.export.Dim("batch", min=1)
    with torch.no_grad(), _quiet_exporter():
        return torch.export.export(graph, (example,), dynamic_shapes=({0: batch},), strict=False)


def _example_windows(model: Any) -> Tensor:
    """Windows of the fitted data's scale to trace with (the values do not matter, their shape does)."""
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(EXAMPLE_BATCH, model.input_length, model.n_channels_, generator=generator, dtype=torch.float64)
    center, scale = (torch.tensor(np.asarray(part[0], dtype=np.float64)) for part in (model.center_, model.scale_))
    return (center + noise * scale).float()


def _check_exportable(model: Any) -> None:
    """Raise an :class:`ExportError` naming the model and the reason when it cannot be exported."""
    from tsseq.estimators.neural import NeuralForecaster
    from tsseq.estimators.tokens import TokenForecaster
    from tsseq.registry import name_of

    name = name_of(model) if hasattr(model, "get_params") else type(model).__name__
    if not isinstance(model, NeuralForecaster):
        wrapper = any(hasattr(model, parameter) for parameter in ("members", "model_params", "candidates"))
        reason = (
            "it combines or wraps other models; export the neural model inside it instead"
            if wrapper
            else "it is a closed-form model computed with NumPy, not a torch module: it has no graph to export "
            "(its forecasts are a few lines of arithmetic on its fitted coefficients)"
        )
        raise ExportError(f"{name} cannot be exported: {reason}. Only tsseq's neural forecasters export.")
    if not hasattr(model, "module_"):
        raise ExportError(f"{name} cannot be exported: it is not fitted; call fit() first.")
    if isinstance(model, TokenForecaster):
        raise ExportError(
            f"{name} cannot be exported: its forecast decodes tokens by sampling paths (the median of "
            f"num_samples={model.num_samples} draws), greedily or by beam search, with a key/value cache; that "
            "decoding loop is Python around the network, not a fixed graph."
        )
    if getattr(model, "covariate_spec_", None) is not None:
        kinds = ", ".join(model.covariate_spec_.kinds)
        raise ExportError(
            f"{name} cannot be exported: it was fitted with {kinds} covariates, which enter its windows as a packed "
            "block (standardised values laid out over the input and the horizon, static categories as codes) that "
            "the graph's callers would have to rebuild; export is for models fitted on the values alone."
        )
    if model._covariate_names():
        raise ExportError(
            f"{name} cannot be exported: its covariates {list(model._covariate_names())} are codes derived from each "
            "window's timestamps (and the fitted series' positions), which raw windows do not carry."
        )
    if len(model.center_) != 1:
        raise ExportError(
            f"{name} cannot be exported: it was fitted on {len(model.center_)} series, each standardised with its "
            "own statistics, so a raw window's scaling depends on which series it is; export a model fitted on one "
            "(wide) frame."
        )
    if not getattr(model, "forecast_trained_", True):
        raise ExportError(f"{name} cannot be exported: it was only pretrained; its forecasting head is untrained.")
    transform = model._fitted_transform  # the fit's, not the parameter as set since
    if transform is not None:
        raise ExportError(
            f"{name} cannot be exported: it was fitted with target_transform={transform!r}, which the "
            "graph does not apply to its inputs nor invert on its outputs; export a model fitted without one."
        )


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporters' notes to PyTorch's own developers (deprecations inside torch, torchvision's absent ops).

    Nothing in them is the user's to act on; an export that fails still raises.
    """
    loggers = [logging.getLogger("torch.onnx"), logging.getLogger("onnxscript")]  # onnxscript: a failed conversion's
    levels = [logger.level for logger in loggers]  # traceback, which export_onnx turns into one message
    for logger in loggers:
        logger.setLevel(logging.CRITICAL if logger.name == "onnxscript" else logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            # Attributes a forward sets for inspection (seq2seq's last attention, the RNNs' flat weights): not outputs.
            warnings.filterwarnings("ignore", message="The tensor attributes .* were assigned during export")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _require(package: str):
    import importlib

    try:
        return importlib.import_module(package)
    except ImportError:
        raise ExportError(
            f"ONNX export needs the package {package!r}: pip install 'tsseq[export]' (onnx, onnxscript, onnxruntime)."
        ) from None
