"""Seed sources: tables of problems with gold solutions (JSONL or Parquet files, Hub datasets), read
in one of several formats with an optional column mapping, and a procedural arithmetic generator.

Seeds are the ground truth: a broken seed row stops the build and names the file and line, because a
silently skipped or half-read seed would change what every later label is checked against. Seed ids
come from the row's own id column or from its content, never from the file's name or place, so the
same data under another name builds the same dataset (the same fingerprint).
"""

from __future__ import annotations

import ast
import gzip
import hashlib
import itertools
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

import pyarrow.parquet as pq

from schemas import SeedProblem
from synth.errors import SeedError
from synth.config import FORMAT_NEEDS, FileSeeds, HubSeeds, ProceduralSeeds, did_you_mean

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


# ---- MATH-style solutions ------------------------------------------------------------------------

def last_boxed(text: str) -> Optional[str]:
    """The content of the last \\boxed{...} (or \\fbox{...}), braces balanced; None when there is none."""
    start = max(text.rfind("\\boxed{"), text.rfind("\\fbox{"))
    if start < 0:
        return None
    i = text.index("{", start) + 1
    depth = 1
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i:j].strip()
    return None


_MATH_OPEN = {"$$": "$$", "$": "$", "\\[": "\\]", "\\(": "\\)"}


def split_math_steps(solution: str) -> list[str]:
    """A MATH-style solution as steps: one per paragraph, and a paragraph of prose split into its
    sentences. Nothing inside $...$, $$...$$, \\[...\\] or \\(...\\) or a LaTeX environment is split,
    so a display equation stays with the sentence that introduces it."""
    steps: list[str] = []
    for para in re.split(r"\n\s*\n", solution.strip()):
        steps += _sentences(para)
    return [s for s in (" ".join(s.split()) for s in steps) if s]


def _sentences(text: str) -> list[str]:
    out, start, i, close, env = [], 0, 0, None, 0
    while i < len(text):
        if close is None and env == 0:
            opener = next((o for o in ("$$", "\\[", "\\(", "$") if text.startswith(o, i)), None)
            if opener and not (opener == "$" and i and text[i - 1] == "\\"):
                close, i = _MATH_OPEN[opener], i + len(opener)
                continue
            if text.startswith("\\begin{", i):
                env += 1
            elif text[i] in ".!?" and (i + 1 == len(text) or text[i + 1] in " \n") and \
                    re.match(r"\s+[A-Z\\$]", text[i + 1:i + 4] or "") and not re.search(r"\b(?:e\.g|i\.e|etc)$", text[start:i]):
                out.append(text[start:i + 1])
                start = i + 1
        elif close is not None and text.startswith(close, i) and not (close == "$" and text[i - 1] == "\\"):
            i += len(close)
            close = None
            continue
        elif env and text.startswith("\\end{", i):
            env -= 1
        i += 1
    out.append(text[start:])
    return [s.strip() for s in out if s.strip()]


# ---- MBPP-style code problems --------------------------------------------------------------------

def _mbpp_tests(tests: object, where: str) -> list[str]:
    if isinstance(tests, str):
        tests = [line for line in tests.splitlines() if line.strip()]
    if not isinstance(tests, list) or not tests or not all(isinstance(t, str) for t in tests):
        raise SeedError(f"{where}: the tests should be a non-empty list of assert lines (MBPP's test_list)")
    return tests


def mbpp_entry_point(code: str, tests: list[str], where: str) -> str:
    """The function of the program that the tests call (MBPP names it only in its asserts)."""
    try:
        defined = [n.name for n in ast.parse(code).body if isinstance(n, ast.FunctionDef)]
    except SyntaxError as e:
        raise SeedError(f"{where}: the reference program does not parse ({e.msg}, line {e.lineno})") from None
    called = " ".join(tests)
    for name in defined:
        if re.search(rf"\b{re.escape(name)}\s*\(", called):
            return name
    raise SeedError(f"{where}: no function of the program ({', '.join(defined) or 'none defined'}) is called by "
                    f"the tests; name it with fields.entry_point")


def mbpp_seed_parts(text: str, code: str, tests: list[str], entry_point: str) -> tuple[str, str]:
    """MBPP as HumanEval's shape: a stub with the function's signature and the task (and its first
    test as the example) in the docstring, and a test program defining check(candidate)."""
    func = next(n for n in ast.parse(code).body if isinstance(n, ast.FunctionDef) and n.name == entry_point)
    imports = [ast.get_source_segment(code, n) for n in ast.parse(code).body if isinstance(n, (ast.Import, ast.ImportFrom))]
    doc = text.strip().replace('"""', "'''")
    stub = "".join(f"{i}\n" for i in imports) + (
        f"def {entry_point}({ast.unparse(func.args)}):\n    \"\"\"{doc}\n    Example: {tests[0].strip()}\n    \"\"\"\n")
    body = "\n".join("    " + re.sub(rf"\b{re.escape(entry_point)}\s*\(", "candidate(", t.strip()) for t in tests)
    return stub, f"def check(candidate):\n{body}\n"


# ---- reading rows --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Row:
    where: str  # for errors: "path:line N" or "path: row N" or "hub:repo@commit split row N"
    label: str  # for the seed's source: "line N" or "row N"
    data: dict


def _decode(raw: bytes, path: Path, lineno: int, offset: int) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SeedError(f"{path}:{lineno}: not UTF-8: byte 0x{raw[e.start]:02x} at byte offset {offset + e.start} "
                        f"of the file (column {e.start + 1} of the line); re-save the file as UTF-8") from None
    return text.removeprefix("\ufeff") if lineno == 1 else text  # a UTF-8 byte order mark is allowed


def iter_jsonl(path: Path) -> Iterator[Row]:
    """Rows of a JSONL (or .jsonl.gz) file; blank lines skipped; a UTF-8 BOM accepted."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            offset = 0
            for lineno, raw in enumerate(f, start=1):
                line = _decode(raw, path, lineno, offset)
                offset += len(raw)
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                except json.JSONDecodeError as e:
                    raise SeedError(f"{path}:{lineno}: not valid JSON ({e.msg.removesuffix(' at')} at column {e.colno})") from None
                if not isinstance(data, dict):
                    raise SeedError(f"{path}:{lineno}: expected a JSON object, got {type(data).__name__}")
                yield Row(f"{path}:{lineno}", f"line {lineno}", data)
    except (OSError, EOFError) as e:  # gzip.BadGzipFile is an OSError
        raise SeedError(f"{path}: cannot read: {e}") from None


def _iter_parquet(path: Path) -> Iterator[Row]:
    try:
        pf = pq.ParquetFile(path)
        batches = pf.iter_batches(batch_size=1024)
        i = 0
        for batch in batches:
            for data in batch.to_pylist():
                yield Row(f"{path}: row {i}", f"row {i}", data)
                i += 1
    except SeedError:
        raise
    except Exception as e:  # pyarrow raises several types for a broken file
        raise SeedError(f"{path}: cannot read Parquet: {e}") from None


@dataclass(frozen=True)
class HubSource:
    """A Hub dataset pinned to the commit its revision resolved to."""

    repo: str
    config: Optional[str]
    split: str
    commit: str

    @property
    def uri(self) -> str:
        """How lineage and the card name it: no local path, the exact commit."""
        return f"hf://datasets/{self.repo}@{self.commit}"


def resolve_hub(repo: str, config: Optional[str], split: str, revision: Optional[str]) -> HubSource:
    """The commit a revision of a Hub dataset points at now (HF_ENDPOINT and the token come from
    huggingface_hub's own configuration)."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

    try:
        sha = HfApi().dataset_info(repo, revision=revision or "main").sha
    except RevisionNotFoundError:
        raise SeedError(f"hub dataset {repo}: revision {revision!r} not found") from None
    except RepositoryNotFoundError:
        raise SeedError(f"hub dataset {repo}: not found (or private: log in with `hf auth login`)") from None
    except (HfHubHTTPError, OSError) as e:
        raise SeedError(f"hub dataset {repo}: cannot reach the Hub ({type(e).__name__}: {str(e)[:200]}); "
                        f"with no network, use a local copy (type: file) or a prepared datasets cache") from None
    if not sha:
        raise SeedError(f"hub dataset {repo}: the Hub gave no commit for revision {revision or 'main'!r}")
    return HubSource(repo, config, split, sha)


def iter_hub(src: HubSource) -> Iterator[Row]:
    import datasets

    try:
        ds = datasets.load_dataset(src.repo, src.config, split=src.split, revision=src.commit)
    except (ValueError, FileNotFoundError, OSError) as e:  # datasets names a bad config or split in a ValueError
        raise SeedError(f"hub dataset {src.repo}@{src.commit[:12]} (config {src.config}, split {src.split}): "
                        f"cannot load: {str(e)[:400]}") from None
    for i, data in enumerate(ds):
        yield Row(f"hub:{src.repo}@{src.commit[:12]} {src.split} row {i}", f"row {i}", data)


def iter_rows(spec: FileSeeds | HubSeeds, hub: Optional[HubSource] = None) -> Iterator[Row]:
    if isinstance(spec, HubSeeds):
        yield from iter_hub(hub or resolve_hub(spec.repo, spec.config, spec.split, spec.revision))
    elif spec.path.suffix == ".parquet":
        yield from _iter_parquet(spec.path)
    else:
        yield from iter_jsonl(spec.path)


# ---- rows to seeds -------------------------------------------------------------------------------

def content_id(fmt: str, *parts: str) -> str:
    """An id from the seed's content: the same problem has the same id in any file, under any name."""
    return f"{fmt}-" + hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:16]


def seed_from_row(row: Row, spec: FileSeeds | HubSeeds, source: str) -> SeedProblem:
    """One row as a seed, in the spec's format and column mapping; a SeedError names the row and the column."""
    fmt, where = spec.format, row.where

    def column(part: str) -> Optional[str]:
        return spec.fields.column(fmt, part)

    def value(part: str, kinds: tuple[type, ...] = (str,), required: Optional[bool] = None) -> Any:
        name = column(part)
        needed = part in FORMAT_NEEDS[fmt] or getattr(spec.fields, part) is not None if required is None else required
        if name is None or name not in row.data or (row.data[name] is None and not needed):
            if not needed:
                return None
            have = ", ".join(map(str, row.data)) or "none"
            mapped = f"fields.{part} = {name!r}" if getattr(spec.fields, part) else f"format {fmt!r} reads it from {name!r}"
            raise SeedError(f"{where}: missing field {name!r} for the seed's {part} ({mapped}; the row has: {have})"
                            f"{did_you_mean(str(name), set(map(str, row.data)))}; set seeds.fields.{part} to the "
                            f"column that holds it")
        v = row.data[name]
        if not isinstance(v, kinds):
            raise SeedError(f"{where}: field {name!r} should be {' or '.join(k.__name__ for k in kinds)}, "
                            f"got {type(v).__name__}")
        return v

    explicit_id = value("id", (str, int), required=spec.fields.id is not None)
    tests = entry = None
    if fmt == "gsm8k":
        problem = value("problem")
        try:
            steps, answer = parse_gsm8k_answer(value("solution"))
        except ValueError as e:
            raise SeedError(f"{where}: field {column('solution')!r}: {e}") from None
        mapped_answer = value("answer", (str, int, float), required=spec.fields.answer is not None)
        answer = str(mapped_answer) if mapped_answer is not None else answer
    elif fmt == "math":
        problem, solution = value("problem"), value("solution")
        mapped_answer = value("answer", (str, int, float), required=spec.fields.answer is not None)
        answer = str(mapped_answer).strip() if mapped_answer is not None else last_boxed(solution)
        if not answer:
            raise SeedError(f"{where}: field {column('solution')!r} has no \\boxed{{...}} final answer (and no "
                            f"answer column: set seeds.fields.answer)")
        steps = split_math_steps(solution)
    elif fmt == "synth":
        problem = value("problem")
        steps = value("solution", (list,))
        if not all(isinstance(s, str) for s in steps):
            raise SeedError(f"{where}: field {column('solution')!r} should be a list of strings")
        answer = str(value("answer", (str, int, float)))
    elif fmt == "prompts":
        problem = value("problem")
        if not problem.strip():
            raise SeedError(f"{where}: field {column('problem')!r} is empty")
        ref = value("answer", (str, int, float))
        steps, answer = [], "" if ref is None else str(ref)
    elif fmt == "humaneval":
        problem = value("problem")
        steps, answer = [problem + value("solution")], ""
        tests, entry = value("tests"), value("entry_point")
    else:  # mbpp
        text, code = value("problem"), value("solution")
        test_list = _mbpp_tests(value("tests", (str, list)), where)
        entry = value("entry_point") or mbpp_entry_point(code, test_list, where)
        problem, tests = mbpp_seed_parts(text, code, test_list, entry)
        steps, answer = [code.rstrip() + "\n"], ""
    seed_id = (str(explicit_id).replace("/", "-") if explicit_id not in (None, "")
               else content_id(fmt, problem, *steps, answer, tests or ""))
    return SeedProblem(seed_id=seed_id, source=f"{source} {row.label}", problem=problem, gold_steps=list(steps),
                gold_answer=answer, tests=tests, entry_point=entry)


@dataclass
class SeedSet:
    """The seeds a spec gives, and the rows left out as exact duplicates of an earlier row (which would
    otherwise put one problem in two splits, or twice in one)."""

    seeds: list[SeedProblem]
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (the duplicate row's source, seed_id kept)
    source: str = ""  # how lineage names the data: a path relative to the recipe or hf://datasets/REPO@COMMIT
    hub: Optional[HubSource] = None


def source_label(spec: FileSeeds | HubSeeds, hub: Optional[HubSource]) -> str:
    """The seeds' source as records name it: the file's content hash (not its name or path) or the Hub commit."""
    if hub is not None:
        return f"{hub.uri} {hub.split}"
    from synth.paths import sha256_file

    return f"file sha256:{sha256_file(spec.path)[:16]}"


def read_table_seeds(spec: FileSeeds | HubSeeds, rows: Optional[int] = None) -> SeedSet:
    """The spec's seeds (or only its first `rows` rows after the offset, for a check)."""
    hub = resolve_hub(spec.repo, spec.config, spec.split, spec.revision) if isinstance(spec, HubSeeds) else None
    seeds: list[SeedProblem] = []
    duplicates: list[tuple[str, str]] = []
    for seed, duplicate in iter_table_seeds(spec, rows, hub):
        if seed is not None:
            seeds.append(seed)
        else:
            duplicates.append(duplicate)
    return SeedSet(seeds, duplicates, source_label(spec, hub), hub)


def iter_seed_rows(spec: FileSeeds | HubSeeds) -> Iterator[Row]:
    """The rows a spec reads (after its offset, up to its limit), unparsed: for counting them."""
    hub = resolve_hub(spec.repo, spec.config, spec.split, spec.revision) if isinstance(spec, HubSeeds) else None
    for index, row in enumerate(iter_rows(spec, hub)):
        if index < spec.offset:
            continue
        if spec.limit is not None and index - spec.offset >= spec.limit:
            break
        yield row


def iter_table_seeds(spec: FileSeeds | HubSeeds, rows: Optional[int] = None, hub: Optional[HubSource] = None
                     ) -> Iterator[tuple[Optional[SeedProblem], Optional[tuple[str, str]]]]:
    """The spec's seeds one at a time, as (seed, None), or (None, (source, id kept)) for a row that
    repeats an earlier one exactly. Memory grows with the number of ids (an id and a digest each),
    not with the rows, so a build can stream any number of seeds."""
    if hub is None and isinstance(spec, HubSeeds):
        hub = resolve_hub(spec.repo, spec.config, spec.split, spec.revision)
    source = source_label(spec, hub)
    want = spec.limit if rows is None else min(rows, spec.limit or rows)
    seen: dict[str, tuple[str, bytes]] = {}  # seed id -> (where, digest of its problem)
    taken = 0
    for index, row in enumerate(iter_rows(spec, hub)):
        if index < spec.offset:
            continue
        if want is not None and taken >= want:
            break
        taken += 1
        seed = seed_from_row(row, spec, source)
        digest = hashlib.blake2b(json.dumps([seed.problem, seed.gold_steps, seed.gold_answer]).encode(),
                                 digest_size=16).digest()
        if seed.seed_id in seen:
            where, first = seen[seed.seed_id]
            if first != digest:
                raise SeedError(f"{row.where}: id {seed.seed_id!r} is also the id of {where}, with "
                                f"another problem; ids must be unique")
            yield None, (seed.source, seed.seed_id)
            continue
        seen[seed.seed_id] = (row.where, digest)
        yield seed, None
    if not seen:
        where = hub.uri if hub else str(spec.path)
        raise SeedError(f"{where}: no seed records found (offset {spec.offset}, limit {spec.limit})")


def load_file_seeds(spec: FileSeeds) -> list[SeedProblem]:
    return read_table_seeds(spec).seeds


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


def procedural_seeds(spec: ProceduralSeeds) -> list[SeedProblem]:
    return list(iter_procedural_seeds(spec))


def iter_procedural_seeds(spec: ProceduralSeeds) -> Iterator[SeedProblem]:
    """Arithmetic word problems with one computation per gold step; the same spec gives the same problems."""
    rng = random.Random(spec.random_seed)
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
        yield SeedProblem(
            seed_id=f"proc{spec.random_seed}-{i:06d}",
            source=f"procedural:seed={spec.random_seed}",
            problem=question,
            gold_steps=steps,
            gold_answer=str(value),
        )


def iter_seeds(spec: FileSeeds | HubSeeds | ProceduralSeeds
               ) -> Iterator[tuple[Optional[SeedProblem], Optional[tuple[str, str]]]]:
    """Every seed of a spec in order, one at a time (see iter_table_seeds), for a streamed build."""
    if isinstance(spec, ProceduralSeeds):
        return ((s, None) for s in iter_procedural_seeds(spec))
    return iter_table_seeds(spec)


def read_seeds(spec: FileSeeds | HubSeeds | ProceduralSeeds, rows: Optional[int] = None) -> SeedSet:
    if isinstance(spec, ProceduralSeeds):  # only the rows asked for are generated (a check reads 5 of millions)
        seeds = list(itertools.islice(iter_procedural_seeds(spec), rows)) if rows else procedural_seeds(spec)
        return SeedSet(seeds, source=f"procedural:seed={spec.random_seed}")
    return read_table_seeds(spec, rows)


def load_seeds(spec: FileSeeds | HubSeeds | ProceduralSeeds) -> list[SeedProblem]:
    return read_seeds(spec).seeds


def gold_solution_steps(seed: SeedProblem) -> list[str]:
    """The gold solution as a solver would write it: its steps, then the answer in the form every
    prompt asks for, so that gold and model-written solutions end alike and an injected error that
    reaches the answer shows in the last step (Math-Shepherd's steps end the same way)."""
    return list(seed.gold_steps) + [f"The answer is {seed.gold_answer}."]


# ---- a recipe's sources, pinned and checked ------------------------------------------------------

def pin_hub_revisions(recipe):
    """The recipe with every Hub seed and benchmark revision replaced by the commit it points at now,
    so a build reads one fixed commit from start to end and lineage records that commit."""
    seeds = recipe.seeds
    if isinstance(seeds, HubSeeds):
        seeds = seeds.model_copy(update={"revision": resolve_hub(seeds.repo, seeds.config, seeds.split,
                                                                 seeds.revision).commit})
    flt = recipe.stages.filter
    stages = recipe.stages
    if flt is not None and flt.decontaminate is not None:
        benches = [b if b.repo is None else b.model_copy(update={"revision": resolve_hub(
                       b.repo, b.config, b.split, b.revision).commit}) for b in flt.decontaminate.benchmarks]
        decon = flt.decontaminate.model_copy(update={"benchmarks": benches})
        stages = stages.model_copy(update={"filter": flt.model_copy(update={"decontaminate": decon})})
    return recipe.model_copy(update={"seeds": seeds, "stages": stages})
