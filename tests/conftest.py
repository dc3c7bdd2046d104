"""Test session setup: real Prefect (test harness), real vLLM (one engine for the whole session),
real Great Expectations and DuckDB. Paths are kept apart from the user's own runs."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_SESSION_TMP = Path(tempfile.mkdtemp(prefix="synth-tests-"))
os.environ["PREFECT_HOME"] = str(_SESSION_TMP / "prefect")  # a newer Prefect's home breaks an older one
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
# `datasets` caches a local folder under a hash that ignores its path and content (every staged
# `v1.0.0` folder shares one), so a shared cache would serve an earlier session's rows.
os.environ["HF_DATASETS_CACHE"] = str(_SESSION_TMP / "hf-datasets")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
GSM8K_TRAIN = SHARED / "data" / "gsm8k" / "train.jsonl"

TINY_RECIPE = """\
name: tiny-math-pairs
kind: preference
description: A tiny build for tests.
random_seed: 11
seeds:
  type: procedural
  count: {count}
  random_seed: 3
  min_steps: 1
  max_steps: 1
models:
  generator:
    model: embedded:smollm2-135m-instruct
    max_model_len: 1024
    sampling:
      temperature: 0.8
      max_tokens: 96
stages:
  generate:
    n: 4
  pair:
    max_pairs_per_problem: 2
gates:
  min_rows:
    pairs: {min_pairs}
"""


def write_recipe(folder: Path, count: int = 16, min_pairs: int = 1, name: str = "tiny.yaml") -> Path:
    path = folder / name
    path.write_text(TINY_RECIPE.format(count=count, min_pairs=min_pairs))
    return path


@pytest.fixture(scope="session")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture(scope="session")
def session_dir() -> Path:
    return _SESSION_TMP


@pytest.fixture(scope="session")
def built(prefect_harness, session_dir):
    """One real build of the tiny recipe through the Prefect flow; many tests read its outputs."""
    from flows.build import build_dataset

    recipe = write_recipe(session_dir)
    data_dir = session_dir / "data"
    replay_two_problems(recipe, data_dir)
    summary = build_dataset(str(recipe), str(data_dir), progress=False)
    return summary, recipe, data_dir


def replay_two_problems(recipe_path: Path, data_dir: Path) -> None:
    """What the embedded model writes differs by CPU, and a 16-problem build of it can have no
    choosable solution at all on some. So a capable generator's replies to the first two problems
    are replayed from the response cache (one clean correct solution, one finished wrong one, two
    cut off), and the build has pairs on any CPU; the other problems are the model's own. Every
    label is still derived by the build, never taken from here."""
    from synth.backends.base import ChatRequest, Completion, Sample
    from synth.cache import ResponseCache, default_cache_path, request_key
    from synth.engine import model_identity
    from synth.recipe import load_recipe
    from synth.seeds import gold_solution_steps, load_seeds
    from synth.stages.generate import prompt_messages, request_seed

    r, _ = load_recipe(recipe_path)
    key = r.stages.generate.models[0]
    spec = r.models[key]
    cache = ResponseCache(default_cache_path(data_dir))
    entries = []
    for s in load_seeds(r.seeds)[:2]:
        request = ChatRequest(messages=prompt_messages(r.stages.generate.prompt, s.problem), sampling=spec.sampling,
                              n=r.stages.generate.n, sampling_seed=request_seed(r.random_seed, key, s.seed_id))
        right = "\n".join(gold_solution_steps(s))
        wrong = f"Counting them up gives {s.gold_answer}7.\nThe answer is {s.gold_answer}7."
        texts = [(right, "stop"), (wrong, "stop"), ("Let me think about", "length"), ("First, we", "length")]
        entries.append((request_key(spec.backend, model_identity(spec), request), model_identity(spec),
                        Completion(samples=[Sample(text=t, finish_reason=f, completion_tokens=max(1, len(t) // 4))
                                            for t, f in texts], prompt_tokens=120)))
    cache.put_many(entries)
    cache.close()


@pytest.fixture(scope="session", autouse=True)
def _close_engines():
    """vLLM otherwise shuts down at interpreter exit, logging into streams pytest has closed."""
    yield
    from synth import engine

    engine.close_all()


@pytest.fixture(scope="session")
def vllm_server(session_dir):
    """vLLM's OpenAI-compatible server with the embedded model, on loopback, for the whole session."""
    from synth.models import resolve_model
    from tests.servers import start_vllm_server, stop

    model = resolve_model("embedded:smollm2-135m-instruct")
    server = start_vllm_server(model.path_or_name, session_dir / "vllm-server.log")
    yield server
    stop(server.process)
