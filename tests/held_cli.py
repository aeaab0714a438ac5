"""``python tests/held_cli.py GO ARGUMENTS...``: ``tsseq ARGUMENTS...``, imported now, run once the file GO exists.

Tests that overlap one process's start-up (seconds of imports) with other work, or race processes, start them this
way, so that they ask for nothing before the moment the test chooses (touching GO). Once imported, the process makes
``GO.ready-<pid>`` (the ``wait_until_ready`` fixture waits for it). Not a test module: pytest does not collect it.
"""

import os
import sys
import time

import mlflow  # noqa: F401 - the slow imports, done before GO
import optuna  # noqa: F401

import tsseq.tuning.study  # noqa: F401
from tsseq.cli import main

open(f"{sys.argv[1]}.ready-{os.getpid()}", "w").close()
while not os.path.exists(sys.argv[1]):
    time.sleep(0.002)  # raced processes start within milliseconds of each other
sys.argv = ["tsseq", *sys.argv[2:]]
sys.exit(main())
