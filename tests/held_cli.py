"""``python tests/held_cli.py GO ARGUMENTS...``: ``tsseq ARGUMENTS...``, imported now, run once the file GO exists.

Tests that overlap one process's start-up (seconds of imports) with other work start it this way, so that it asks
for nothing before the moment the test chooses (touching GO). Not a test module: pytest does not collect it.
"""

import os
import sys
import time

import mlflow  # noqa: F401 - the slow imports, done before GO
import optuna  # noqa: F401

import tsseq.tuning.study  # noqa: F401
from tsseq.cli import main

while not os.path.exists(sys.argv[1]):
    time.sleep(0.01)
sys.argv = ["tsseq", *sys.argv[2:]]
sys.exit(main())
