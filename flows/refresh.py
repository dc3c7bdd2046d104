"""`refresh`: rebuilds named recipes, for schedules (prefect.yaml's nightly deployment).

Each recipe is its own `build-dataset` subflow: an unchanged recipe with unchanged seeds is answered
from the response cache and registers no new version; a failing recipe does not stop the others,
and the refresh fails at the end, naming every recipe that failed and why.
"""

from __future__ import annotations

from typing import Optional

from flows import run_logs  # first: Prefect environment defaults
from prefect import flow

from flows.build import build_dataset
from synth import console
from synth.errors import SynthError


@flow(name="refresh", log_prints=False, validate_parameters=True)
def refresh(recipes: list[str], data_dir: Optional[str] = None) -> list[dict]:
    """Rebuilds every recipe; returns, per recipe, the version it produced or matched, or its error."""
    results: list[dict] = []
    with run_logs():
        for path in recipes:
            try:
                s = build_dataset(path, data_dir, progress=False)
                results.append({"recipe": path, "dataset": s.dataset, "version": s.version,
                                "new_version": s.new_version, "catalog": s.catalog})
                console.step(f"refresh: {path} -> {s.dataset}@{s.version} "
                             f"({'new version' if s.new_version else 'unchanged'})")
            except Exception as e:  # one broken recipe must not stop the rest of the schedule
                results.append({"recipe": path, "error": f"{type(e).__name__}: {e}"})
                console.step(f"refresh: {path} failed: {type(e).__name__}: {e}")
    failed = [r for r in results if "error" in r]
    if failed:
        raise SynthError("refresh: " + "; ".join(f"{r['recipe']}: {r['error']}" for r in failed))
    return results
