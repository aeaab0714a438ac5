"""centre_windows: the autoencoder reconstructs shapes, so a window moved as a whole scores as it did."""

import numpy as np
import pandas as pd
import pytest

from tsseq.anomaly.detectors import make_detector
from tsseq.errors import ConfigError
from tsseq.nn.autoencoders import WindowCentred

TINY = {"epochs": 2, "batch_size": 64, "seed": 0, "progress": False, "threads": 1}
TRAIN_ROWS, WINDOW = 300, 16


def sensors(rows: int = 420) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    t = np.arange(rows)
    values = np.column_stack([np.sin(2 * np.pi * t / 24), np.cos(2 * np.pi * t / 24)]) + 0.1 * rng.standard_normal((rows, 2))
    return pd.DataFrame(values, columns=["a", "b"], index=pd.date_range("2024-01-01", periods=rows, freq="h"))


@pytest.mark.parametrize("name", ["lstm_ae", "lstm_vae", "patchtst_ae"])
def test_a_new_level_scores_as_the_old_one_once_a_window_lies_wholly_in_it(name):
    frame = sensors()
    moved = frame.copy()
    moved.iloc[360:, 0] += 3.0  # a new operating point from row 360 on
    params = {"model_params": {"patch_length": 8, "d_model": 8}} if name == "patchtst_ae" else {"model_params": {"hidden_size": 8}}
    window = 16

    def scores(centre: bool, data: pd.DataFrame) -> np.ndarray:
        detector = make_detector(name, window_length=window, centre_windows=centre, training=TINY, **params)
        return detector.fit(data.iloc[:TRAIN_ROWS]).score(data).to_numpy()

    centred, centred_moved = scores(True, frame), scores(True, moved)
    inside = slice(360 + window - 1, None)  # windows that lie wholly in the new level
    np.testing.assert_allclose(centred_moved[inside], centred[inside], rtol=1e-4, atol=1e-5)
    assert not np.allclose(centred_moved[360 : 360 + window - 1], centred[360 : 360 + window - 1])  # the step itself
    if name != "patchtst_ae":  # PatchTST normalises each window itself (RevIN), centred or not
        plain, plain_moved = scores(False, frame), scores(False, moved)
        assert np.mean(plain_moved[inside]) > 3 * np.mean(plain[inside])  # without centring the level alone scores


def test_multichannel_centres_only_data_of_several_channels():
    def module(frame):
        detector = make_detector("lstm_ae", window_length=WINDOW, centre_windows="multichannel", training=TINY)
        return detector.fit(frame.iloc[:TRAIN_ROWS]).module_

    assert isinstance(module(sensors()), WindowCentred)
    assert not isinstance(module(sensors()[["a"]]), WindowCentred)


def test_centre_windows_must_be_a_bool_or_multichannel():
    with pytest.raises(ConfigError, match="'centre_windows' parameter must be True, False or 'multichannel'. Got 'yes'"):
        make_detector("lstm_ae", window_length=WINDOW, centre_windows="yes", training=TINY).fit(sensors().iloc[:TRAIN_ROWS])
