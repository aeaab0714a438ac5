"""Neural forecasters as scikit-learn style estimators over pandas frames.

:class:`NeuralForecaster` (:mod:`.neural`) does what every neural model needs around
its ``torch.nn.Module``: standardise each series and channel with statistics of the
training rows only, cut windows (:mod:`tsseq.data.windows`), train with the shared
engine (:class:`tsseq.engine.Trainer`), forecast from the last window of each series and
undo the scaling; :meth:`NeuralForecaster.fine_tune` continues training a fitted model
on new series (transfer learning), optionally freezing named parts (:mod:`.transfer`).
Categorical covariates (calendar features, series id) travel next to the values
(:mod:`.covariates`). A subclass only declares its constructor arguments and builds its
module in ``_build_module``. The registered names:

* ``rnn``, ``lstm``, ``gru``, ``mut1``, ``mut2``, ``mut3`` and ``segrnn``:
  :class:`RNNForecaster` (:mod:`.rnn`, a
  :class:`~tsseq.nn.rnn_forecaster.RecurrentForecaster`) with the cell, or SegRNN's
  configuration, preset;
* ``seq2seq``: :class:`Seq2SeqForecaster` (:mod:`.seq2seq`), an encoder-decoder with
  attention trained with teacher forcing and scheduled sampling;
* ``transformer_seq2seq`` and ``decoder_only``: :class:`TransformerSeq2SeqForecaster` and
  :class:`DecoderOnlyForecaster` (:mod:`.transformer_seq2seq`), an encoder-decoder and a
  GPT-style transformer, both forecasting autoregressively;
* ``transformer`` and ``patchtst``: :class:`TransformerForecaster` (one token per time
  step) and :class:`PatchTSTForecaster` (patches of each channel, with masked
  pretraining), encoder-only transformers with a direct head (:mod:`.transformer`);
* ``token_transformer`` and ``token_gru``: :class:`TokenForecaster` (:mod:`.tokens`), a
  language model over quantized values, decoded by sampling, greedily or by beam search.

Training settings are one :class:`~tsseq.engine.TrainingConfig` (or the mapping of its
fields, as YAML gives it) in the ``training`` argument.
"""

from __future__ import annotations

from tsseq.estimators.neural import NeuralForecaster
from tsseq.estimators.rnn import RNNForecaster
from tsseq.estimators.seq2seq import Seq2SeqForecaster
from tsseq.estimators.transformer import PatchTSTForecaster, TransformerForecaster
from tsseq.estimators.tokens import TokenForecaster
from tsseq.estimators.transformer_seq2seq import DecoderOnlyForecaster, TransformerSeq2SeqForecaster

__all__ = [
    "DecoderOnlyForecaster",
    "NeuralForecaster",
    "PatchTSTForecaster",
    "RNNForecaster",
    "Seq2SeqForecaster",
    "TokenForecaster",
    "TransformerForecaster",
    "TransformerSeq2SeqForecaster",
]
