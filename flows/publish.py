"""`publish-dataset`: a cataloged, validated version to the Hugging Face Hub (synth/publish.py)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Optional

import flows  # noqa: F401  (Prefect environment defaults)
from prefect import flow

from synth.access import open_catalog
from synth.publish import publish


@flow(name="publish-dataset", log_prints=False, validate_parameters=True)
def publish_dataset(ref: str, repo_id: Optional[str] = None, data_dir: Optional[str] = None, dry_run: bool = False,
                    endpoint: Optional[str] = None) -> dict:
    """NAME@VERSION (or NAME for its latest) to `repo_id` as one commit tagged vX.Y.Z. The token comes
    from the worker's environment (HF_TOKEN) or its `hf auth login`."""
    catalog = open_catalog(data_dir)
    return asdict(publish(catalog, ref, repo_id, catalog.path.parent / "hub", dry_run=dry_run, endpoint=endpoint))
