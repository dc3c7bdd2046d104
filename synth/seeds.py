"""Seed sources: files of problems with gold solutions, and a procedural arithmetic generator.

Seeds are the ground truth: a broken seed file stops the build and names the line, because a
silently skipped or half-read seed would change what every later label is checked against.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Iterator

import pyarrow.parquet as pq

from schemas import Seed
from synth.errors import SeedError
from synth.recipe import FileSeeds, ProceduralSeeds

_GSM8K_CALC = re.compile(r"<<[^>]*>>")


def parse_gsm8k_answer(answer: str) -> tuple[list[str], str]:
    """Splits a GSM8K answer into steps (calculator annotations removed) and the `#### N` answer."""
    if "####" not in answer:
        raise ValueError("answer has no '#### <final answer>' line")
    body, _, final = answer.rpartition("####")
    final = final.strip().replace(",", "")
    if not final:
        raise ValueError("'####' is followed by no answer")
    steps = [_GSM8K_CALC.sub("", line).strip() for line in body.strip().splitlines()]
    return [s for s in steps if s], final


def _seed_from_row(row: dict, fmt: str, source: str, default_id: str, where: str) -> Seed:
    def need(key: str, kind: type) -> object:
        if key not in row:
            raise SeedError(f"{where}: missing field {key!r} (format {fmt!r} needs: {_FIELDS[fmt]})")
        if not isinstance(row[key], kind):
            raise SeedError(f"{where}: field {key!r} should be {kind.__name__}, got {type(row[key]).__name__}")
        return row[key]

    if fmt == "gsm8k":
        question = need("question", str)
        try:
            steps, answer = parse_gsm8k_answer(need("answer", str))  # type: ignore[arg-type]
        except ValueError as e:
            raise SeedError(f"{where}: field 'answer': {e}") from None
        return Seed(seed_id=default_id, source=source, problem=question, gold_steps=steps, gold_answer=answer)  # type: ignore[arg-type]
    if fmt == "humaneval":
        prompt, solution = need("prompt", str), need("canonical_solution", str)
        return Seed(seed_id=str(row.get("task_id") or default_id).replace("/", "-"), source=source,
                    problem=prompt, gold_steps=[prompt + solution], gold_answer="",  # type: ignore[operator]
                    tests=need("test", str), entry_point=need("entry_point", str))  # type: ignore[arg-type]
    if fmt == "prompts":
        prompt = need("prompt", str)
        if not prompt.strip():  # type: ignore[union-attr]
            raise SeedError(f"{where}: field 'prompt' is empty")
        reference = row.get("reference_answer", "")
        if not isinstance(reference, (str, int, float)):
            raise SeedError(f"{where}: field 'reference_answer' should be a string, got {type(reference).__name__}")
        return Seed(seed_id=str(row.get("id") or default_id), source=source, problem=prompt,  # type: ignore[arg-type]
                    gold_steps=[], gold_answer=str(reference))
    steps = need("gold_steps", list)
    if not all(isinstance(s, str) for s in steps):  # type: ignore[union-attr]
        raise SeedError(f"{where}: field 'gold_steps' should be a list of strings")
    return Seed(
        seed_id=str(row.get("seed_id") or default_id),
        source=source,
        problem=need("problem", str),  # type: ignore[arg-type]
        gold_steps=list(steps),  # type: ignore[arg-type]
        gold_answer=str(need("gold_answer", (str, int, float))),  # type: ignore[arg-type]
    )


_FIELDS = {"gsm8k": "question, answer", "synth": "problem, gold_steps, gold_answer",
           "prompts": "prompt (and optional id, reference_answer)",
           "humaneval": "task_id, prompt, canonical_solution, test, entry_point"}


def _iter_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    import gzip

    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise SeedError(f"{path}:{lineno}: not valid JSON ({e.msg} at column {e.colno})") from None
            if not isinstance(row, dict):
                raise SeedError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
            yield lineno, row


def load_file_seeds(spec: FileSeeds) -> list[Seed]:
    path = spec.path
    stem = path.name.split(".")[0]
    seeds: list[Seed] = []
    if path.suffix == ".parquet":
        try:
            rows = pq.read_table(path).to_pylist()
        except Exception as e:  # pyarrow raises several types for a broken file
            raise SeedError(f"{path}: cannot read Parquet: {e}") from None
        numbered: Iterator[tuple[int, dict]] = ((i, r) for i, r in enumerate(rows))
        label = "row"
    else:
        numbered = _iter_jsonl(path)
        label = "line"
    taken = 0
    for index, (n, row) in enumerate(numbered):
        if index < spec.offset:
            continue
        if spec.limit is not None and taken >= spec.limit:
            break
        where = f"{path}:{n}" if label == "line" else f"{path}: row {n}"
        seeds.append(_seed_from_row(row, spec.format, f"{path.name}:{label} {n}", f"{stem}-{label}{n}", where))
        taken += 1
    if not seeds:
        raise SeedError(f"{path}: no seed records found (offset {spec.offset}, limit {spec.limit})")
    ids = [s.seed_id for s in seeds]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise SeedError(f"{path}: seed_id {dup!r} appears more than once")
    return seeds


# ---- procedural arithmetic word problems -------------------------------------------------------

_NAMES = ["Mia", "Liam", "Ava", "Noah", "Zoe", "Omar", "Lena", "Ravi", "Iris", "Tom", "Nora", "Sam"]
_ITEMS = ["apples", "marbles", "stickers", "pencils", "cookies", "stamps", "shells", "books", "cards", "beads"]


def _step(rng: random.Random, name: str, item: str, value: int, last: bool) -> tuple[str, str, int]:
    """Returns (question sentence, gold step with its one computation, new value)."""
    ops = ["add", "sub", "mul"] + (["div"] if last else [])
    op = rng.choice(ops)
    if op == "sub" and value < 3:
        op = "add"
    if op == "div":
        divisors = [d for d in range(2, 10) if value % d == 0 and value // d > 1]
        if not divisors:
            op = "add"
    if op == "add":
        k = rng.randint(2, 40)
        verb = rng.choice(["buys", "finds", "is given"])
        return (f"Then {name} {verb} {k} more {item}.", f"{name} gets {k} more: {value} + {k} = {value + k}.", value + k)
    if op == "sub":
        k = rng.randint(1, value - 1)
        verb = rng.choice(["gives away", "loses", "uses"])
        return (f"Then {name} {verb} {k} {item}.", f"{name} has {k} fewer: {value} - {k} = {value - k}.", value - k)
    if op == "mul":
        k = rng.randint(2, 5)
        word = {2: "doubles", 3: "triples"}.get(k, f"multiplies by {k}")
        return (
            f"Then the number of {item} {name} has {word}." if k in (2, 3) else f"Then {name} ends up with {k} times as many {item}.",
            f"The {item} are multiplied by {k}: {value} * {k} = {value * k}.",
            value * k,
        )
    d = rng.choice(divisors)
    return (
        f"Finally {name} shares them equally among {d} friends.",
        f"Each friend gets {value} / {d} = {value // d}.",
        value // d,
    )


def procedural_seeds(spec: ProceduralSeeds) -> list[Seed]:
    """Arithmetic word problems with one computation per gold step; the same spec gives the same problems."""
    rng = random.Random(spec.seed)
    seeds = []
    for i in range(spec.count):
        name, item = rng.choice(_NAMES), rng.choice(_ITEMS)
        value = rng.randint(5, 60)
        sentences = [f"{name} has {value} {item}."]
        steps: list[str] = []
        n_steps = rng.randint(spec.min_steps, spec.max_steps)
        for j in range(n_steps):
            sentence, step, value = _step(rng, name, item, value, last=(j == n_steps - 1))
            sentences.append(sentence)
            steps.append(step)
        if sentences[-1].startswith("Finally"):
            question = " ".join(sentences) + " How many " + item + " does each friend get?"
        else:
            question = " ".join(sentences) + f" How many {item} does {name} have now?"
        seeds.append(
            Seed(
                seed_id=f"proc{spec.seed}-{i:06d}",
                source=f"procedural:seed={spec.seed}",
                problem=question,
                gold_steps=steps,
                gold_answer=str(value),
            )
        )
    return seeds


def load_seeds(spec: FileSeeds | ProceduralSeeds) -> list[Seed]:
    if isinstance(spec, ProceduralSeeds):
        return procedural_seeds(spec)
    return load_file_seeds(spec)


def gold_solution_steps(seed: Seed) -> list[str]:
    """The gold solution as a solver would write it: its steps, then the answer in the form every
    prompt asks for, so that gold and model-written solutions end alike and an injected error that
    reaches the answer shows in the last step (Math-Shepherd's steps end the same way)."""
    return list(seed.gold_steps) + [f"The answer is {seed.gold_answer}."]
