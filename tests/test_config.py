"""Pipeline configuration: YAML maps one-to-one onto the dataclasses; mistakes are named."""

from __future__ import annotations

import pytest

from tsseq.config import DataConfig, EvaluationConfig, ModelConfig, PipelineConfig, from_mapping, load_pipeline
from tsseq.errors import ConfigError, DataFileNotFoundError

MINIMAL = {"name": "job", "data": {"dataset": "co2"}, "models": [{"name": "naive"}]}


def test_minimal_mapping_builds_nested_dataclasses_with_defaults():
    config = from_mapping(PipelineConfig, MINIMAL)
    assert config.data == DataConfig(dataset="co2")
    assert config.models == [ModelConfig("naive")]
    assert config.evaluation == EvaluationConfig()


def test_unknown_key_is_named_with_the_closest_valid_key():
    mapping = {**MINIMAL, "evaluation": {"horizn": 12}}
    with pytest.raises(ConfigError, match=r"evaluation: unknown key 'horizn'\. Did you mean 'horizon'\?"):
        from_mapping(PipelineConfig, mapping)


def test_unknown_top_level_key_is_rejected():
    with pytest.raises(ConfigError, match="unknown key 'model'. Did you mean 'models'"):
        from_mapping(PipelineConfig, {**MINIMAL, "model": {}})


def test_wrong_type_names_the_dotted_path_and_value():
    with pytest.raises(ConfigError, match=r"^evaluation\.horizon: expected int; got 'ten'"):
        from_mapping(PipelineConfig, {**MINIMAL, "evaluation": {"horizon": "ten"}})


def test_literal_lists_the_allowed_values():
    with pytest.raises(ConfigError, match=r"data\.missing: expected one of 'error', 'interpolate', 'ffill', 'mask'; got 'drop'"):
        from_mapping(PipelineConfig, {**MINIMAL, "data": {"dataset": "co2", "missing": "drop"}})


def test_missing_required_key():
    with pytest.raises(ConfigError, match="missing required key 'models'"):
        from_mapping(PipelineConfig, {"name": "job", "data": {"dataset": "co2"}})


def test_data_needs_exactly_one_source():
    with pytest.raises(ConfigError, match="exactly one of 'dataset'"):
        DataConfig(dataset="co2", csv="x.csv")
    with pytest.raises(ConfigError, match="exactly one of 'dataset'"):
        DataConfig()


def test_int_is_accepted_where_a_float_is_expected_but_bool_is_not_an_int():
    config = from_mapping(EvaluationConfig, {"train_fraction": 1, "horizon": 5})
    assert config.train_fraction == 1.0 and isinstance(config.train_fraction, float)
    with pytest.raises(ConfigError, match="expected int; got True"):
        from_mapping(EvaluationConfig, {"horizon": True})


def test_load_pipeline_reads_yaml_safely(tmp_path):
    path = tmp_path / "job.yaml"
    path.write_text("name: job\ndata: {dataset: co2}\nmodels:\n  - {name: ar, params: {order: 3}}\n")
    config, base_dir = load_pipeline(path)
    assert config.models[0].params == {"order": 3} and base_dir == tmp_path
    path.write_text("name: !!python/object/apply:os.system ['echo unsafe']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_pipeline(path)


def test_missing_pipeline_file(tmp_path):
    with pytest.raises(DataFileNotFoundError, match="nope.yaml"):
        load_pipeline(tmp_path / "nope.yaml")


def test_repository_pipelines_are_valid(nab_benchmark):
    """Every job file in pipelines/ loads with the loader of its kind (its file name says which)."""
    from pathlib import Path

    from tsseq.anomaly.config import load_detection_job
    from tsseq.tuning.config import load_study

    root = Path(__file__).resolve().parents[1] / "pipelines"
    loaders = {"tune_": load_study, "detect_": load_detection_job, "nab": nab_benchmark.read_job}
    files = sorted(root.rglob("*.yaml"))
    assert len(files) >= 10
    for path in files:
        loader = next((load for prefix, load in loaders.items() if path.name.startswith(prefix)), load_pipeline)
        loader(path)


def test_a_job_file_of_another_command_says_which_command_runs_it(tmp_path):
    from tsseq.anomaly.config import load_detection_job
    from tsseq.tuning.config import load_study

    detection, study = tmp_path / "detect.yaml", tmp_path / "study.yaml"
    detection.write_text("name: d\ndata: {csv: x.csv}\ndetector: {name: ar_residual}\n")
    study.write_text("name: s\ndata: {dataset: co2}\nmodel: {name: ar}\nsearch_space: {max_order: {type: int, low: 1, high: 4}}\n")
    with pytest.raises(ConfigError, match=r"detect.yaml: the key 'detector' makes it a detection job, not a pipeline "
                                          r"file: run it with tsseq detect --config .*detect.yaml"):
        load_pipeline(detection)
    with pytest.raises(ConfigError, match=r"the key 'search_space' makes it an Optuna study.*tsseq tune .*study.yaml"):
        load_detection_job(study)
    with pytest.raises(ConfigError, match=r"the key 'detector' makes it a detection job, not a study file"):
        load_study(detection)
