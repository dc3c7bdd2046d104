"""Prefect flows wrapping the pipeline steps of synth.pipeline as tasks."""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

# Defaults that make Prefect's ephemeral mode work on these machines (see ../shared/STACK.md).
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# Prefect 3.7 computes its result storage from ~/.prefect whatever PREFECT_HOME says, and writes a
# failed run's exception there: keep it under PREFECT_HOME. Settings are read when prefect is first
# imported, so this must run before that (a deployment sets it in its environment: prefect.yaml).
os.environ.setdefault("PREFECT_RESULTS_LOCAL_STORAGE_PATH",
                      str(Path(os.environ.get("PREFECT_HOME", "~/.prefect")).expanduser() / "storage"))


@contextmanager
def run_logs() -> Iterator[None]:
    """While a flow runs, synth's console lines (stage summaries, the funnel, validation) also go to
    the run's logs on the Prefect server, where the UI and `prefect flow-run logs` show them."""
    from prefect.logging.handlers import APILogHandler

    logger = logging.getLogger("synth")
    if any(isinstance(h, APILogHandler) for h in logger.handlers):  # a subflow of a flow that attached it
        yield
        return
    handler = APILogHandler(level=logging.INFO)
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # the console already shows these lines (synth.console); the API gets them once
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate
