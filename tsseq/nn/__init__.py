"""Pure torch building blocks of tsseq's models: batch-first ``(B, L, C)`` modules.

``cells`` (one recurrent step each), ``recurrent`` (cells run over sequences, the shared
recurrent encoder), ``attention``, ``seq2seq``, ``revin`` and ``embeddings``. Import the
submodule you need; this package re-exports nothing so that importing it stays cheap.
"""
