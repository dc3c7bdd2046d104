"""Engine overhead against raw vLLM: the same prompts once through `synth.engine.generate` (response
cache off) and once straight to `vllm.LLM.chat`, on the same loaded engine, in one run.

Prints completion tokens/s of each and their ratio (goal: the engine keeps >= 0.95 of raw vLLM).
Both sides start from an empty prefix cache, so neither gets the other's prompts for free, and the
rounds alternate (raw, engine, raw, engine, ...) so drift on a shared machine hits both alike.

    .venv/bin/python bench/generation.py                 # 256 prompts, 64 tokens, 1 round
    .venv/bin/python bench/generation.py --rounds 3 --n 4
    .venv/bin/python bench/generation.py --small         # 8 prompts, 16 tokens (the test suite runs this)
"""

from __future__ import annotations

import argparse
import statistics
import time


def main(argv: list[str] | None = None, close: bool = True) -> dict[str, float]:
    """Returns the medians and their ratio; `close=False` keeps the engine for the caller (a test
    session shares one)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=256)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--n", type=int, default=1, help="samples per prompt")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--model", default="embedded:smollm2-135m-instruct")
    ap.add_argument("--max-model-len", type=int, default=1024)
    ap.add_argument("--small", action="store_true", help="8 prompts, 16 tokens: checks the bench runs")
    args = ap.parse_args(argv)
    if args.small:
        args.prompts, args.max_tokens, args.rounds = 8, 16, 1

    from vllm import SamplingParams

    from synth import engine
    from synth.backends.base import ChatRequest
    from synth.recipe import ProceduralSeeds, Sampling, VLLMModel
    from synth.seeds import load_seeds
    from synth.stages.generate import prompt_messages, request_seed

    spec = VLLMModel(model=args.model, max_model_len=args.max_model_len,
                     sampling=Sampling(temperature=0.8, top_p=0.95, max_tokens=args.max_tokens))
    seeds = load_seeds(ProceduralSeeds(type="procedural", count=args.prompts, random_seed=99, min_steps=1, max_steps=3))
    requests = [ChatRequest(messages=prompt_messages("solve_math", s.problem), sampling=spec.sampling, n=args.n,
                            sampling_seed=request_seed(0, "bench", s.seed_id)) for s in seeds]
    t0 = time.perf_counter()
    backend = engine.get_backend(spec)
    print(f"engine start: {time.perf_counter() - t0:.1f} s ({backend.identity})", flush=True)
    llm = backend.llm
    conversations = [[{"role": m.role, "content": m.content} for m in r.messages] for r in requests]
    params = [SamplingParams(n=r.n, temperature=r.sampling.temperature, top_p=r.sampling.top_p,
                             max_tokens=r.sampling.max_tokens, seed=r.sampling_seed) for r in requests]
    llm.chat(conversations[:8], sampling_params=params[:8], use_tqdm=False)  # warm-up, not timed

    def raw() -> tuple[int, float]:
        llm.reset_prefix_cache()
        t = time.perf_counter()
        outs = llm.chat(conversations, sampling_params=params, use_tqdm=False)
        return sum(len(o.token_ids) for out in outs for o in out.outputs), time.perf_counter() - t

    def through_engine() -> tuple[int, float]:
        t = time.perf_counter()
        completions, usage = engine.generate("bench", spec, requests, cache=None, progress=False)
        return sum(sum(c.completion_tokens) for c in completions), time.perf_counter() - t

    rates: dict[str, list[float]] = {"raw vllm.LLM.chat": [], "synth engine": []}
    for r in range(args.rounds):
        for name, fn in (("raw vllm.LLM.chat", raw), ("synth engine", through_engine)):
            tokens, secs = fn()
            rates[name].append(tokens / secs)
            print(f"round {r + 1} {name:<18} {tokens:>7} tokens in {secs:6.1f} s = {tokens / secs:7.1f} tok/s", flush=True)
    raw_rate = statistics.median(rates["raw vllm.LLM.chat"])
    eng_rate = statistics.median(rates["synth engine"])
    print(f"\n{args.prompts} prompts x {args.n} samples, max_tokens {args.max_tokens}, {args.rounds} round(s), medians:")
    print(f"raw vllm.LLM.chat  {raw_rate:8.1f} tok/s")
    print(f"synth engine       {eng_rate:8.1f} tok/s")
    print(f"ratio engine/raw   {eng_rate / raw_rate:8.3f}  (goal >= 0.95)")
    if close:
        engine.close_all()
    return {"raw_tokens_per_s": raw_rate, "engine_tokens_per_s": eng_rate, "ratio": eng_rate / raw_rate}


if __name__ == "__main__":  # vLLM may start worker processes with spawn
    main()
