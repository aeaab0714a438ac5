"""Exported graphs forecast what the library does: ONNX (onnxruntime) and torch.export, every exportable model.

Each registered neural model is fitted once, small, on the embedded CO2 series and
exported with a batch of 3 windows (the slowest to export by a helper process, from the
model saved, while this one exports the others: HELPED); the graphs are run on 7 random
windows at the data's scale and on 64 real CO2 windows (some with unobserved weeks), and
must equal eager ``predict_windows`` to 1e-5 (``assert_allclose``'s ``rtol`` and
``atol``: the graph returns float32, whose rounding at CO2's level of 340 is 2e-5 in
absolute terms). Both sides get the same float32-representable windows. The models that
cannot be exported must say why.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

pytest.importorskip("onnx", reason="ONNX export needs the 'export' extra: pip install -e '.[export]'")
pytest.importorskip("onnxscript", reason="ONNX export needs the 'export' extra: pip install -e '.[export]'")
onnxruntime = pytest.importorskip("onnxruntime", reason="the tests run the graphs with onnxruntime ('export' extra)")

import tsseq  # noqa: E402
from tsseq import export, persistence, registry, testing  # noqa: E402
from tsseq.cli import main  # noqa: E402
from tsseq.estimators import NeuralForecaster  # noqa: E402
from tsseq.estimators.tokens import TokenForecaster  # noqa: E402
from tsseq.export import ExportError  # noqa: E402

# Short: the recurrent cells and the decoders are unrolled into the graph one step at a time, so the export's time
# grows with the window and the horizon; parity does not depend on them (3 steps still feed 2 points back).
INPUT_LENGTH, HORIZON = 12, 3
TINY = {
    "input_length": INPUT_LENGTH, "horizon": HORIZON, "hidden_size": 8, "training": {"epochs": 1, "batch_size": 64, "seed": 0}
}
# Their default segment and patches are longer than 12 steps: SegRNN's window in 2 segments, PatchTST's in 3 patches.
WINDOW_SIZED = {"segrnn": {"segment_length": 6}, "patchtst": {"patch_length": 8, "stride": 4}}
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}


def _is_exportable(name: str) -> bool:
    model = registry.create(name)
    return isinstance(model, NeuralForecaster) and not isinstance(model, TokenForecaster)


EXPORTABLE = [name for name in registry.names() if _is_exportable(name)]
NOT_EXPORTABLE = [name for name in registry.names() if name not in EXPORTABLE]
# Each export is seconds of single-threaded Python (tracing, decomposing, optimizing the graph), and a CI machine's
# second core would sit idle: the graphs of these models (slow to export: about as long as the others here, with
# the tests after them) are written by a helper process started with the module, from the models fitted and saved
# here, while this process exports the others. The tests compare every graph with the model fitted here, whichever
# process wrote it.
HELPED = [name for name in EXPORTABLE if name in ("mut1", "mut2", "mut3", "seq2seq", "transformer_seq2seq")]
HERE = [name for name in EXPORTABLE if name not in HELPED]

# Exports each saved model of its list as an ONNX graph and a torch.export program, then marks it done.
HELPER = """
import json, sys
from pathlib import Path
import torch
torch.set_num_threads(1)
from tsseq import export, persistence
for job in json.loads(sys.argv[1]):
    model = persistence.load(job["model"])
    export.export_onnx(model, job["onnx"])
    export.export_program(model, job["program"])
    Path(job["done"]).touch()
"""


@pytest.fixture(scope="module")
def co2() -> pd.DataFrame:
    return tsseq.load("co2").frame  # weekly, with a few unobserved weeks (NaN)


def _fitted(name: str, frame: pd.DataFrame, **params) -> NeuralForecaster:
    model = registry.create(name).set_params(**TINY, **WINDOW_SIZED.get(name, {}))
    return model.set_params(**params).fit(frame.interpolate())


@pytest.fixture(scope="module")
def helper(co2, tmp_path_factory):
    """The models of HELPED fitted here and saved, and the helper process exporting them: ``(process, {name:
    (model, folder)}, log)``; each folder gets ``<name>.onnx``, ``<name>.pt2`` (and its metadata) and ``done``."""
    models, jobs = {}, []
    for name in HELPED:
        folder = tmp_path_factory.mktemp(name)
        models[name] = (_fitted(name, co2), folder)
        models[name][0].save(folder / "model.pt")
        files = {"model": "model.pt", "onnx": f"{name}.onnx", "program": f"{name}.pt2", "done": "done"}
        jobs.append({key: str(folder / file) for key, file in files.items()})
    log = tmp_path_factory.mktemp("helper") / "stderr.txt"
    with log.open("w") as stderr:
        process = subprocess.Popen([sys.executable, "-c", HELPER, json.dumps(jobs)], stdout=subprocess.DEVNULL,
                                   stderr=stderr, env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
    yield process, models, log
    if process.poll() is None:  # only some of the tests ran
        process.kill()
    process.wait()


def _helped(helper, name: str, timeout_s: float = 600) -> tuple[NeuralForecaster, Path, Path]:
    """(the model fitted here, the helper's ONNX graph, its program) of ``name``, once the helper has written them."""
    process, models, log = helper
    model, folder = models[name]
    deadline = time.monotonic() + timeout_s
    while not (folder / "done").exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the export helper did not write {name}'s graphs ({process.wait()}):\n{log.read_text()[-3000:]}")
        time.sleep(0.05)
    return model, folder / f"{name}.onnx", folder / f"{name}.pt2"


@pytest.fixture(scope="module", params=[*HERE, *HELPED])  # the helper's last: it has the most time
def exported(request, co2, tmp_path_factory, helper):
    """(name, fitted model, ONNX session, ONNX path, torch.export program path) for each exportable registered
    model; the graph and the program are exported here, or by the helper process (HELPED)."""
    name = request.param
    if name in HELPED:
        model, path, program = _helped(helper, name)
    else:
        model, folder = _fitted(name, co2), tmp_path_factory.mktemp(name)
        path = export.export_onnx(model, folder / f"{name}.onnx")
        program = export.export_program(model, folder / f"{name}.pt2")
    return name, model, _session(path), path, program


def _session(path) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _random_windows(frame: pd.DataFrame, n: int = 7) -> np.ndarray:
    values = frame.to_numpy()
    noise = np.random.default_rng(1).normal(size=(n, INPUT_LENGTH, values.shape[1]))
    return (np.nanmean(values, axis=0) + noise * np.nanstd(values, axis=0)).astype(np.float32)


def _real_windows(frame: pd.DataFrame, n: int = 64) -> np.ndarray:
    values = frame.to_numpy()
    starts = np.linspace(0, len(values) - INPUT_LENGTH, n).astype(int)
    windows = np.stack([values[start : start + INPUT_LENGTH] for start in starts]).astype(np.float32)
    assert np.isnan(windows).any()  # unobserved weeks reach the graph as NaN, as they reach predict_windows
    return windows


def _eager(model: NeuralForecaster, windows: np.ndarray) -> np.ndarray:
    return model.predict_windows(windows.astype(np.float64), HORIZON)  # the same float32 values, as float64


# ---------------------------------------------------------------------------------------- parity
def test_onnx_equals_eager_on_random_and_real_windows_at_other_batch_sizes(exported, co2):
    name, model, session, _, _ = exported
    for windows in (_random_windows(co2), _real_windows(co2), _random_windows(co2, n=1)):
        (forecast,) = session.run(None, {"windows": windows})
        assert forecast.dtype == np.float32 and forecast.shape == (len(windows), HORIZON, 1)
        np.testing.assert_allclose(forecast, _eager(model, windows), **TOLERANCE)


def test_torch_export_program_equals_eager(exported, co2):
    name, model, _, _, path = exported  # export.export_program's
    program = torch.export.load(path).module()
    windows = _real_windows(co2, n=10)
    (forecast,) = program(torch.from_numpy(windows))
    np.testing.assert_allclose(forecast.numpy(), _eager(model, windows), **TOLERANCE)


def test_the_metadata_round_trips_and_describes_the_geometry(exported, tmp_path):
    name, model, session, path, _ = exported
    metadata = export.read_metadata(path)
    assert metadata == export.export_metadata(model)
    assert session.get_modelmeta().custom_metadata_map == metadata  # what any onnxruntime binding reads
    assert metadata["tsseq.model"] == registry.name_of(model)  # the name that, with the params, rebuilds it
    assert (int(metadata["tsseq.input_length"]), int(metadata["tsseq.horizon"])) == (INPUT_LENGTH, HORIZON)
    assert json.loads(metadata["tsseq.columns"]) == ["co2"] and json.loads(metadata["tsseq.outputs"]) == ["forecast"]
    assert json.loads(metadata["tsseq.params"])["hidden_size"] == 8
    assert [entry.name for entry in session.get_inputs()] == ["windows"]
    assert session.get_inputs()[0].shape[1:] == [INPUT_LENGTH, 1]
    assert not isinstance(session.get_inputs()[0].shape[0], int)  # the batch is dynamic


def test_several_channels_keep_their_order_and_scaling():
    frame = testing.wide_frame(200)  # two channels on different scales
    frame["b"] = 100 + 10 * frame["b"]
    for name in ("segrnn", "transformer"):
        model = _fitted(name, frame)
        graph = export.forecast_graph(model)
        windows = _random_windows(frame, n=5)
        (forecast,) = graph(torch.from_numpy(windows))
        np.testing.assert_allclose(forecast.numpy(), _eager(model, windows), **TOLERANCE)


def test_a_quantile_model_exports_its_levels(co2, tmp_path):
    levels = [0.1, 0.5, 0.9]
    model = _fitted("segrnn", co2, training={**TINY["training"], "loss": "quantile", "quantiles": levels})
    path = export.export_onnx(model, tmp_path / "quantiles.onnx")
    session = _session(path)
    assert [entry.name for entry in session.get_outputs()] == ["forecast", "quantiles"]
    metadata = export.read_metadata(path)
    assert json.loads(metadata["tsseq.quantile_levels"]) == levels and metadata["tsseq.distribution"] == "quantile"
    windows = _real_windows(co2, n=9)
    forecast, quantiles = session.run(None, {"windows": windows})
    inputs = windows.astype(np.float64)
    np.testing.assert_allclose(quantiles, model.predict_windows(inputs, HORIZON, quantiles=levels), **TOLERANCE)
    np.testing.assert_allclose(forecast, model.predict_windows(inputs, HORIZON), **TOLERANCE)


@pytest.mark.parametrize("loss", ["normal", "student_t"])
def test_a_parametric_model_exports_its_distribution_on_the_data_scale(co2, tmp_path, loss):
    from scipy import stats

    model = _fitted("transformer", co2, training={**TINY["training"], "loss": loss})
    session = _session(export.export_onnx(model, tmp_path / f"{loss}.onnx"))
    metadata = export.export_metadata(model)
    assert json.loads(metadata["tsseq.outputs"]) == ["forecast", "parameters"]
    windows = _real_windows(co2, n=9)
    forecast, parameters = session.run(None, {"windows": windows})
    assert parameters.shape == (9, HORIZON, 1, len(json.loads(metadata["tsseq.parameter_names"])))
    inputs = windows.astype(np.float64)
    np.testing.assert_allclose(forecast, model.predict_windows(inputs, HORIZON), **TOLERANCE)
    levels = np.array([0.05, 0.5, 0.95])
    parameters = parameters.astype(np.float64)[..., None, :]  # (N, H, C, 1, P)
    if loss == "normal":
        quantiles = stats.norm.ppf(levels, parameters[..., 0], parameters[..., 1])
    else:
        quantiles = stats.t.ppf(levels, parameters[..., 2], parameters[..., 0], parameters[..., 1])
    expected = model.predict_windows(inputs, HORIZON, quantiles=levels)
    np.testing.assert_allclose(quantiles, expected, rtol=1e-5, atol=1e-4)  # SciPy's and torch's inverse CDFs


def test_counts_export_their_negative_binomial_mean_and_dispersion(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"sales": rng.poisson(5 + 3 * np.sin(np.arange(300) / 5)).astype(float)},
        index=pd.date_range("2024-01-01", periods=300, freq="D"),
    )
    model = _fitted("gru", frame, training={**TINY["training"], "loss": "negative_binomial"})
    forecast, parameters = export.forecast_graph(model)(torch.from_numpy(_random_windows(frame).clip(0).round()))
    assert parameters.shape[-1] == 2 and bool((parameters > 0).all())
    np.testing.assert_allclose(forecast.numpy(), parameters[..., 0].numpy())  # the point is the mean


def test_the_opset_can_be_chosen(co2, tmp_path):
    import onnx

    model = _fitted("segrnn", co2)
    path = export.export_onnx(model, tmp_path / "opset.onnx", opset=18)
    assert {entry.domain: entry.version for entry in onnx.load(str(path)).opset_import}[""] == 18


def test_an_opset_the_graph_cannot_be_converted_to_is_refused_not_replaced(co2, tmp_path, capsys):
    model = _fitted("gru", co2)
    with pytest.raises(export.ExportError, match="cannot be converted to opset 5; the exporter made opset 18"):
        export.export_onnx(model, tmp_path / "old.onnx", opset=5)  # it wrote opset 18 under opset 5's name before
    assert not (tmp_path / "old.onnx").exists()
    assert "Traceback" not in capsys.readouterr().err  # the converter's own, logged


# -------------------------------------------------------------------------------------- refusals
@pytest.mark.parametrize("name", NOT_EXPORTABLE)
def test_the_models_that_cannot_be_exported_say_why(name, tmp_path):
    frame = testing.wide_frame(200)
    model = registry.create(name)
    if isinstance(model, NeuralForecaster):
        model.set_params(**TINY)
    elif name == "auto":
        model.set_params(horizon=HORIZON, candidates=["naive", "ar"], verbose=False)
    model.fit(frame)
    with pytest.raises(ExportError, match=rf"^{name} cannot be exported: "):
        export.export_onnx(model, tmp_path / "model.onnx")
    with pytest.raises(ExportError, match=rf"^{name} cannot be exported: "):
        export.export_program(model, tmp_path / "model.pt2")
    assert not list(tmp_path.iterdir())


def test_refusals_name_the_reason(tmp_path):
    frame = testing.wide_frame(160)
    cases = {
        "closed-form model computed with NumPy": registry.create("ar").fit(frame),
        "combines or wraps other models": registry.create("ensemble").fit(frame),
        "decodes tokens by sampling paths": registry.create("token_gru").set_params(**TINY).fit(frame),
        "fitted with future covariates": registry.create("gru").set_params(**TINY).fit(
            frame[["a"]], future_covariates=frame[["b"]]
        ),
        "codes derived from each window's timestamps": registry.create("gru", covariates=["hour"]).set_params(**TINY).fit(
            frame
        ),
        "fitted on 3 series": registry.create("gru").set_params(**TINY).fit(testing.long_frame()),
        "only pretrained": registry.create("patchtst").set_params(**TINY, **WINDOW_SIZED["patchtst"]).pretrain(frame),
        "not fitted": registry.create("gru"),
    }
    for reason, model in cases.items():
        with pytest.raises(ExportError, match=reason):
            export.export_onnx(model, tmp_path / "model.onnx")


# ------------------------------------------------------------------------------------------- CLI
def test_the_cli_exports_a_saved_model_in_both_formats(co2, tmp_path, capsys):
    model = _fitted("patchtst", co2)
    model.save(tmp_path / "model.pt")
    windows = _real_windows(co2, n=5)
    expected = model.predict_windows(windows.astype(np.float64), HORIZON)

    assert main(["export", str(tmp_path / "model.pt"), "--output", str(tmp_path / "out" / "model.onnx")]) == 0
    assert "wrote patchtst to" in capsys.readouterr().err
    (forecast,) = _session(tmp_path / "out" / "model.onnx").run(None, {"windows": windows})
    np.testing.assert_allclose(forecast, expected, **TOLERANCE)

    program_path = tmp_path / "model.pt2"  # its suffix says torch-export
    assert main(["export", str(tmp_path / "model.pt"), "--output", str(program_path)]) == 0
    (forecast,) = torch.export.load(program_path).module()(torch.from_numpy(windows))
    np.testing.assert_allclose(forecast.numpy(), expected, **TOLERANCE)
    assert json.loads(export.metadata_path(program_path).read_text())["tsseq.model"] == "patchtst"
    assert export.read_metadata(program_path) == export.export_metadata(model)


def test_the_cli_exits_2_on_bad_input_and_writes_nothing(tmp_path, capsys):
    output = tmp_path / "model.onnx"
    csv = tmp_path / "data.csv"
    testing.wide_frame(80).to_csv(csv)
    assert main(["export", str(csv), "--output", str(output)]) == 2
    assert "looks like a CSV" in capsys.readouterr().err

    persistence.save(registry.create("ar").fit(testing.wide_frame(80)), tmp_path / "ar.pt")
    assert main(["export", str(tmp_path / "ar.pt"), "--output", str(output)]) == 2
    assert "ar cannot be exported: it is a closed-form model" in capsys.readouterr().err

    arguments = ["export", str(tmp_path / "ar.pt"), "--format", "torch-export", "--opset", "18", "--output", str(output)]
    assert main(arguments) == 2
    assert "--opset applies to --format onnx only" in capsys.readouterr().err
    for format_, name in (("torch-export", "model.onnx"), ("onnx", "model.pt2")):  # a graph under another's name
        assert main(["export", str(tmp_path / "ar.pt"), "--format", format_, "--output", str(tmp_path / name)]) == 2
        assert f"names a {'onnx' if format_ != 'onnx' else 'torch-export'} file" in capsys.readouterr().err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["ar.pt", "data.csv"]


@pytest.mark.parametrize("format_", ["onnx", "torch-export"])
def test_the_cli_never_exports_over_the_model_file_it_reads(co2, tmp_path, capsys, format_):
    _fitted("gru", co2).save(tmp_path / "model.pt")
    saved = (tmp_path / "model.pt").read_bytes()
    (tmp_path / "link.pt").symlink_to(tmp_path / "model.pt")
    for source, output in (("model.pt", "model.pt"), ("link.pt", "model.pt"), ("model.pt", "link.pt")):
        arguments = ["export", str(tmp_path / source), "--format", format_, "--output", str(tmp_path / output)]
        assert main(arguments) == 2  # exit 0 before, the model replaced by the graph
        assert f"The exported model '{tmp_path / output}' is the model file this job reads" in capsys.readouterr().err
    assert (tmp_path / "model.pt").read_bytes() == saved


def test_stateful_and_recursive_models_export_their_point_rollout(co2, tmp_path):
    # Trained by truncated BPTT or not, the recursive head forecasts a window by feeding its points back: a fixed loop.
    stateful = _fitted("gru", co2, head="recursive", stateful=True, training={**TINY["training"], "tbptt_steps": 16})
    no_median = _fitted("gru", co2, training={**TINY["training"], "loss": "quantile", "quantiles": [0.1, 0.8]})
    windows = _real_windows(co2, n=6)
    for model in (stateful, no_median):
        (forecast, *_) = _session(export.export_onnx(model, tmp_path / "model.onnx")).run(None, {"windows": windows})
        np.testing.assert_allclose(forecast, _eager(model, windows), **TOLERANCE)
