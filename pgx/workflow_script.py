"""The start every workflow script shares (``workflow/scripts/*.py``).

A Snakemake ``script:`` runs in its own Python process. Its errors, warnings and log
records must land in the rule's ``log:`` file, where Snakemake and ``pgx batch`` point the
user when a step fails, not on the terminal of whoever started the workflow. Each script
calls :func:`log_to_rule_log` first, before it imports any stage of pgx, so that even an
import error (a missing dependency) is written to the log.

This module imports only the standard library, on purpose: it must import when nothing
else does.
"""

from __future__ import annotations

import logging
import sys

#: the format of every workflow script's log records
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_to_rule_log(snakemake) -> None:
    """Send stderr (tracebacks, warnings) and logging at INFO to the rule's first log file.

    ``snakemake`` is the object Snakemake injects into a script; its rule must declare a
    ``log:`` (every rule of the workflow does). The file is line-buffered, so a job that is
    killed leaves every line written before it died.
    """
    sys.stderr = open(snakemake.log[0], "w", buffering=1, encoding="utf-8")
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stderr, force=True)
