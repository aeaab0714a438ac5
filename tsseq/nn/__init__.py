"""Pure torch building blocks of tsseq's models: batch-first ``(B, L, C)`` modules.

Recurrent: ``cells`` (one recurrent step each), ``recurrent`` (cells run over sequences,
the shared recurrent encoder), ``rnn_forecaster``, ``attention`` and ``seq2seq``
(encoder-decoder with Bahdanau/Luong attention), ``autoencoders`` (EncDec-AD, LSTM-VAE).
Attention: ``transformer`` (scaled dot-product attention, pre-/post-LN encoder and
decoder layers, positional encodings), ``patching``, ``encoder_forecaster``, ``patchtst``,
``masked_pretraining``, ``transformer_seq2seq``, ``decoder_only``. Shared: ``revin`` and
``embeddings``. Import the submodule you need; this package re-exports nothing so that
importing it stays cheap.
"""
