"""What the judge and critic stages do with unusable model output, without a model: their requests
are answered from a prefilled response cache (the real engine; no backend is ever started), with
`max_parse_retries: 0` so an unparsable answer is final. Each bad answer must be dropped with its
reason, never guessed."""

from __future__ import annotations

import json
from dataclasses import replace

from schemas import CodeInjection, SeedProblem, Solution
from synth import engine
from synth.backends.base import Completion, Sample
from synth.cache import ResponseCache, request_key
from synth.recipe import CodeCritiqueStage, JudgeStage, OpenAIModel, Sampling
from synth.stages.code_critique import CritiqueCode, code_targets
from synth.stages.judge import JudgeRatings
from synth.stages.judge_pairwise import JudgePairwise

# Never contacted: every request is a cache hit.
SPEC = OpenAIModel(backend="openai", base_url="http://127.0.0.1:9/v1", model="judge", max_parse_retries=0,
                   sampling=Sampling(temperature=0.0, max_tokens=64))
SEED = SeedProblem(seed_id="q", source="t", problem="Say hello.", gold_steps=[], gold_answer="")


def sol(i: int, text: str) -> Solution:
    return Solution(f"q-s{i}", "q", SEED.problem, "m", i, text, [text], None, "", "unverified", False, "stop", 3, 3)


def prefill(cache: ResponseCache, answers: list[tuple]) -> None:
    identity = engine.model_identity(SPEC)
    cache.put_many([(request_key("openai", identity, req), identity,
                     Completion(samples=[Sample(text=t, finish_reason="stop", completion_tokens=5)], prompt_tokens=9))
                    for req, t in answers])


def test_unparsable_and_blank_judgments_drop_the_completion(tmp_path):
    cfg = JudgeStage(models=["j"], aspects=["helpfulness"], max_rationale_chars=100)
    stage = JudgeRatings(cfg, {"j": SPEC}, 1, ResponseCache(tmp_path / "c.sqlite"), progress=False)
    a, b, c = sol(0, "Hello!"), sol(1, "hi"), sol(2, "Hey")
    prefill(stage.cache, [(stage._request("j", a, SEED, "helpfulness"), json.dumps({"rationale": "Polite.", "rating": 4})),
                          (stage._request("j", b, SEED, "helpfulness"), "Rating: 3/5, pretty good"),
                          (stage._request("j", c, SEED, "helpfulness"), json.dumps({"rationale": " ", "rating": 5}))])
    result, usage = stage.run([a, b, c], [SEED])
    assert [r.solution_id for r in result.records] == ["q-s0"] and result.records[0].score == 4.0
    assert usage[0].cache_hits == 3 and usage[0].backend_requests == 0
    reasons = {r.record_id: (r.reason, r.detail) for r in result.rejects}
    assert reasons["q-s1"][0] == "unparsable_judgment" and "invalid JSON" in reasons["q-s1"][1]
    assert reasons["q-s2"][0] == "unparsable_judgment" and "blank" in reasons["q-s2"][1]
    assert result.report.breakdown["j"] == {"tried": 3, "rating_4": 1, "unparsable_output": 2}


def test_pairwise_flips_and_unparsable_verdicts_are_dropped_and_counted(tmp_path):
    cfg = JudgeStage(models=["j"], mode="pairwise", max_rationale_chars=100)
    stage = JudgePairwise(cfg, {"j": SPEC}, 1, ResponseCache(tmp_path / "c.sqlite"), progress=False)
    a, b, c = sol(0, "Hello!"), sol(1, "hi"), sol(2, "Hey")
    v = lambda w: json.dumps({"rationale": "Compared.", "winner": w})  # noqa: E731
    prefill(stage.cache, [
        (stage._request("j", a, b, SEED), v("A")), (stage._request("j", b, a, SEED), v("A")),   # position bias
        (stage._request("j", a, c, SEED), v("A")), (stage._request("j", c, a, SEED), v("B")),   # a both times
        (stage._request("j", b, c, SEED), v("B")), (stage._request("j", c, b, SEED), "{winner: B"),  # broken
    ])
    result, _ = stage.run([a, b, c], [SEED])
    assert [(x.winner_id, x.loser_id) for x in result.records] == [("q-s0", "q-s2")]
    assert dict(result.report.dropped) == {"position_flip": 1, "unparsable_judgment": 1}
    j = result.report.breakdown["j"]
    assert (j["tried"], j["consistent"], j["position_flip"], j["unparsable_output"]) == (3, 1, 1, 1)
    assert j["verdicts"] == 5 and j["first_position_wins"] == 3


def test_code_critiques_without_or_against_the_tests_verdict_are_dropped(tmp_path):
    stage = CritiqueCode(CodeCritiqueStage(model="c", targets=["injected", "original"]), {"c": SPEC}, 1,
                         ResponseCache(tmp_path / "c.sqlite"), progress=False)
    bug = CodeInjection("i1", "q", "gold", "gold", "rule", "logic_error", "functional", "def f(x):", "f",
                        "def f(x):\n    return x\n", "def f(x):\n    return -x\n", 2, 2, "sign flipped",
                        "AssertionError", "assert f(1) == 1")
    other = replace(bug, injection_id="i2", seed_id="r", source_id="gold")
    injected, injected2, original, original2 = code_targets(["injected", "original"], [bug, other], [], [])
    prefill(stage.cache, [(stage.request(injected), "Negates x, which is wrong.\n\\conclusion{F}"),
                          (stage.request(original), "Looks wrong to me.\n\\conclusion{F}"),
                          (stage.request(injected2), "I am not sure."),
                          (stage.request(original2), "Returns x unchanged, as asked.\n\\conclusion{T}")])
    result, _ = stage.run([bug, other], [], [])
    assert sorted((c.target_id, c.verdict) for c in result.records) == [("i1", False), ("r-gold-original", True)]
    assert {r.record_id: r.reason for r in result.rejects} == {"q-gold-original-c0": "verdict_disagrees",
                                                                "i2-c0": "no_verdict"}
