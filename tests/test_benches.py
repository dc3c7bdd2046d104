"""Every bench's small mode runs here, so a bench that breaks fails CI instead of rotting. These are
not timing tests: the figures are printed by the benches, and only their presence and sanity are
checked (a rate is positive and finite; the engine/raw ratio is a ratio of two real runs)."""

from __future__ import annotations

import importlib.util
import math

from tests.conftest import REPO


def _bench(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", REPO / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generation_bench_small_mode(capsys):
    """Through the session's vLLM engine (close=False keeps it for the other tests)."""
    figures = _bench("generation").main(["--small"], close=False)
    assert figures["raw_tokens_per_s"] > 0 and figures["engine_tokens_per_s"] > 0
    assert math.isfinite(figures["ratio"]) and figures["ratio"] > 0
    assert "ratio engine/raw" in capsys.readouterr().out


def test_filters_bench_small_mode(capsys):
    figures = _bench("filters").main(["--small"])
    assert {"format", "length", "exact_dedup", "near_dedup", "decontaminate", "whole chain"} <= set(figures)
    assert all(v > 0 and math.isfinite(v) for v in figures.values())
    out = capsys.readouterr().out
    assert "2,000 records" in out and "records/s" in out


def test_scale_bench_small_mode(capsys):
    """The CPU time of each step of one chunk; two real builds of the procedural recipe in their own
    processes, then one killed with SIGKILL halfway and run again: the rerun takes over the finished
    chunks and gives the same fingerprint."""
    figures = _bench("scale").main(["--small"])
    assert [r["seeds"] for r in figures["runs"]] == [600, 2400]
    assert all(r["seeds_per_s"] > 0 and r["peak_tree_mb"] > r["peak_build_mb"] > 0 for r in figures["runs"])
    assert math.isfinite(figures["rss_ratio"]) and figures["rss_ratio"] > 0
    assert figures["kill"]["took_over"] and figures["kill"]["killed_after_chunks"] >= 4
    assert figures["kill_same_fingerprint"]
    assert all(v > 0 and math.isfinite(v) for v in figures["stages"].values())  # one chunk, step by step
    out = capsys.readouterr().out
    assert "ratios 2,400 / 600 seeds" in out and "one chunk of 300 seeds" in out
