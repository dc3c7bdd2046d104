"""Prefect flows wrapping the pipeline steps of synth.pipeline as tasks."""

import os

# Defaults that make Prefect's ephemeral mode work on these machines (see ../shared/STACK.md).
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
