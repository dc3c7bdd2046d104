"""The typed settings a recipe is made of: models, seeds, and each stage's configuration.

They live below synth.recipe (which assembles them into a `Recipe`) so that the stage modules,
the engine and the backends can use them without importing the recipe loader, and the stage
registry can sit between the two without an import cycle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional, Union, get_args

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator


def _no_repeats(model, *fields: str):
    """A list field that names a value twice is a slip in the recipe, not a weight."""
    for name in fields:
        values = getattr(model, name)
        if len(set(values)) != len(values):
            raise ValueError(f"{name} names a value twice")
    return model


# Fields renamed since recipes were first written, by where they sit: old name -> new name.
RENAMED: dict[str, dict[str, str]] = {
    "": {"seed": "random_seed"},  # the recipe's random seed (`seeds` are the seed problems)
    "seeds.": {"seed": "random_seed"},  # the procedural generator's random seed
}


def renamed_fields(data: object, where: str = "") -> object:
    """A recipe is a user file written against older names: a renamed field gets an error naming
    its new name (every one in the recipe at once), not an 'unknown field'."""
    found = [(w, k) for w, names in RENAMED.items() if w.startswith(where) for k in names
             if isinstance(_at(data, w[len(where):]), dict) and k in _at(data, w[len(where):])]
    if found:
        raise ValueError("; ".join(f"{w}{k} is now called {w}{RENAMED[w][k]}" for w, k in found)
                         + " (rename it in the recipe)")
    return data


def _at(data: object, dotted: str) -> object:
    for part in filter(None, dotted.split(".")):
        data = data.get(part) if isinstance(data, dict) else None
    return data


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Sampling(_Strict):
    temperature: float = Field(0.8, ge=0.0, le=2.0)
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    max_tokens: int = Field(256, ge=1, le=32768)
    stop: list[str] = Field(default_factory=list)


class _ModelBase(_Strict):
    """What every backend shares: which model, how to sample from it, how often to retry bad output."""

    model: str = "embedded:smollm2-135m-instruct"
    revision: Optional[str] = Field(
        None, description="pins the model (Hub revision, or an API's dated model id); part of the response cache key")
    sampling: Sampling = Field(default_factory=Sampling)
    max_parse_retries: int = Field(
        2, ge=0, le=10, description="new samples (with new seeds) asked for when output fails its JSON schema")


class VLLMModel(_ModelBase):
    """In-process vLLM. `model` is `embedded:smollm2-135m-instruct`, a local folder or a Hub name."""

    backend: Literal["vllm"] = "vllm"
    max_model_len: int = Field(2048, ge=128)
    dtype: str = Field("auto", description="auto: the model's dtype, except float32 on CPUs without native bf16")
    enforce_eager: bool = True  # STACK.md: engine start-up 123 s -> 26 s on CPU for ~10% throughput
    kv_cache_gib: int = Field(4, ge=1, description="VLLM_CPU_KVCACHE_SPACE on CPU")
    block_size: Optional[int] = Field(
        None, ge=16, description="KV cache block size; None: vLLM's default on GPU, 32 on CPU")
    max_num_seqs: Optional[int] = Field(
        None, ge=1, description="sequences decoded at once; None: vLLM's default on GPU, 128 on CPU")
    gpu_memory_utilization: float = Field(0.85, gt=0.0, le=1.0,
                                          description="GPU: share of each GPU's memory vLLM may take (weights and KV cache)")
    tensor_parallel_size: int = Field(1, ge=1, description="GPU: GPUs one model is split across (vLLM tensor parallelism)")
    commit_every: int = Field(
        512, ge=1, description="requests per vLLM call; a call's responses enter the response cache together, "
                               "so a killed build redoes at most one call")


class OpenAIModel(_ModelBase):
    """Any OpenAI-compatible server (vLLM's own server, a hosted API). `model` is the served model name."""

    backend: Literal["openai"]
    base_url: str = Field(pattern=r"^https?://", description="e.g. http://127.0.0.1:8000/v1")
    api_key_env: Optional[str] = Field(
        None, description="name of the environment variable holding the API key (never the key itself); "
                          "None: no key, as for a local vLLM server")
    max_in_flight: int = Field(16, ge=1, le=4096, description="requests open at once")
    timeout_s: float = Field(120.0, gt=0, description="per request")
    max_retries: int = Field(5, ge=0, le=20, description="tries after the first on 429, 5xx, timeouts, lost connections")
    backoff_s: float = Field(1.0, ge=0, description="first wait between tries; doubles each time, with jitter")


def _backend_of(value: object) -> str:
    if isinstance(value, dict):
        return str(value.get("backend", "vllm"))
    return str(getattr(value, "backend", "vllm"))


ModelSpec = Annotated[
    Union[Annotated[VLLMModel, Tag("vllm")], Annotated[OpenAIModel, Tag("openai")]],
    Discriminator(_backend_of, custom_error_type="backend",
                  custom_error_message="backend must be 'vllm' or 'openai'"),
]


class ProceduralSeeds(_Strict):
    """Arithmetic word problems from the built-in generator: one computation per gold step, reproducible."""

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: object) -> object:
        return renamed_fields(data, "seeds.")

    type: Literal["procedural"]
    count: int = Field(ge=1, le=1_000_000_000, description="problems generated (streamed in chunks)")
    random_seed: int = Field(0, description="the generator's random seed: the same one gives the same problems")
    min_steps: int = Field(1, ge=1, le=8, description="fewest computations per problem")
    max_steps: int = Field(3, ge=1, le=8, description="most computations per problem")

    @model_validator(mode="after")
    def _steps_in_order(self) -> "ProceduralSeeds":
        if self.min_steps > self.max_steps:
            raise ValueError(f"min_steps ({self.min_steps}) is larger than max_steps ({self.max_steps})")
        return self


SeedFormat = Literal["gsm8k", "math", "synth", "prompts", "humaneval", "mbpp"]
SeedPart = Literal["id", "problem", "answer", "solution", "tests", "entry_point"]

# Each format's own column for each part of a seed; `fields:` in a recipe overrides any of them.
FORMAT_COLUMNS: dict[str, dict[str, str]] = {
    "gsm8k": {"problem": "question", "solution": "answer"},
    "math": {"problem": "problem", "solution": "solution", "answer": "answer"},
    "synth": {"id": "seed_id", "problem": "problem", "solution": "gold_steps", "answer": "gold_answer"},
    "prompts": {"id": "id", "problem": "prompt", "answer": "reference_answer"},
    "humaneval": {"id": "task_id", "problem": "prompt", "solution": "canonical_solution", "tests": "test",
                  "entry_point": "entry_point"},
    "mbpp": {"id": "task_id", "problem": "text", "solution": "code", "tests": "test_list"},
}
# The parts a row must have in each format (the others are read when present).
FORMAT_NEEDS: dict[str, tuple[str, ...]] = {
    "gsm8k": ("problem", "solution"), "math": ("problem", "solution"), "synth": ("problem", "solution", "answer"),
    "prompts": ("problem",), "humaneval": ("problem", "solution", "tests", "entry_point"),
    "mbpp": ("problem", "solution", "tests"),
}


class SeedFields(_Strict):
    """Which column holds each part of a seed, for data whose columns are named otherwise (MATH's
    `problem`/`solution` read as format math, a dataset's `query`/`response` as gsm8k). A part left
    unset is read from the format's own column."""

    id: Optional[str] = Field(None, description="a stable id per row (HumanEval's task_id); without one, the id is "
                                                "a hash of the row's content, so renaming or moving the file keeps it")
    problem: Optional[str] = Field(None, description="the question, instruction or function stub")
    answer: Optional[str] = Field(None, description="the final answer (gsm8k: read from the solution's '#### N' "
                                                    "line; math: from its last \\boxed{} when no answer column)")
    solution: Optional[str] = Field(None, description="the worked solution (gsm8k: the answer text; math: the "
                                                      "solution text; synth: a list of steps; code: the reference "
                                                      "program or function body)")
    tests: Optional[str] = Field(None, description="code: a test program defining check(candidate) (humaneval) or "
                                                   "a list of assert lines (mbpp)")
    entry_point: Optional[str] = Field(None, description="code: the function the tests call (mbpp: found from the "
                                                         "program and its tests when unset)")

    def column(self, fmt: str, part: str) -> Optional[str]:
        """The column that holds `part` of a seed in this format, or None when the format has none."""
        return getattr(self, part) or FORMAT_COLUMNS[fmt].get(part)


class _TableSeeds(_Strict):
    """Rows of a table (a file or a Hub dataset) read as seeds of one format, with optional column mapping."""

    format: SeedFormat = Field(
        "gsm8k", description="gsm8k: question, answer ('#### N' last); math: problem, solution (final answer in "
                             "\\boxed{}, steps split at paragraphs and sentences), optional answer; synth: problem, "
                             "gold_steps, gold_answer; prompts: prompt (and optional id, reference_answer), for "
                             "instructions without a gold solution; humaneval: task_id, prompt, canonical_solution, "
                             "test, entry_point; mbpp: task_id, text, code, test_list (assert lines)")
    fields: SeedFields = Field(default_factory=SeedFields,
                               description="columns named otherwise than the format's: part -> column")
    limit: Optional[int] = Field(None, ge=1, description="rows taken, after `offset`; None: all")
    offset: int = Field(0, ge=0, description="rows skipped first")


class FileSeeds(_TableSeeds):
    """A JSONL (.jsonl, .jsonl.gz) or Parquet file, relative to the recipe's folder."""

    type: Literal["file"]
    path: Path


class HubSeeds(_TableSeeds):
    """A Hugging Face Hub dataset, loaded with `datasets.load_dataset(repo, config, split=split,
    revision=commit)` after the revision is resolved to its commit, which lineage and the card record."""

    type: Literal["hub"]
    repo: str = Field(pattern=r"^[A-Za-z0-9][\w.-]*/[\w.-]+$", description="ORG/NAME, e.g. openai/gsm8k")
    config: Optional[str] = Field(None, description="the dataset's config (subset), e.g. main")
    split: str = Field("train", min_length=1)
    revision: Optional[str] = Field(None, description="a branch, tag or commit; None: main. The resolved commit "
                                                      "is recorded, so pin it for a build you can repeat")


SeedSpec = Annotated[Union[ProceduralSeeds, FileSeeds, HubSeeds], Field(discriminator="type")]


class GenerateStage(_Strict):
    models: list[str] = Field(
        default_factory=lambda: ["generator"], min_length=1,
        description="keys under `models`; each samples n solutions per problem with its own backend and sampling")
    n: int = Field(4, ge=1, le=64, description="solutions per problem from each model")
    prompt: Literal["solve_math", "solve_code", "respond"] = Field(
        "solve_math", description="solve_math: step-by-step math with a final answer line; solve_code: complete a "
                                  "Python function (checked by its tests); respond: the seed's prompt as the user "
                                  "turn, as is (instructions, UltraFeedback)")


class VerifyStage(_Strict):
    """Math: the final answer against gold. Code: the problem's tests, run in the sandbox (synth/sandbox.py)."""

    timeout_s: float = Field(10.0, gt=0, le=600, description="code: wall-clock limit per program")
    memory_mb: int = Field(512, ge=64, description="code: address-space limit per program")
    workers: Optional[int] = Field(None, ge=1, description="code: programs run at once; None: one per CPU")
    isolation: Literal["namespaces", "process"] = Field(
        "namespaces", description="code: namespaces (bubblewrap, the default) or process (no namespaces: "
                                  "only where bubblewrap cannot run; the dataset card says so)")


Aspect = Literal["instruction_following", "honesty", "truthfulness", "helpfulness"]
ASPECT_NAMES: tuple[str, ...] = get_args(Aspect)


class JudgeStage(_Strict):
    """A judge model rates completions (UltraFeedback) or compares them in both orders (MT-Bench)."""

    models: list[str] = Field(min_length=1, description="keys under `models`: the judges; each judges everything")
    mode: Literal["ratings", "pairwise"] = Field(
        "ratings", description="ratings: each completion rated 1-5 on each aspect, alone; pairwise: two "
                               "completions compared, in both orders")
    aspects: list[Aspect] = Field(default_factory=lambda: list(ASPECT_NAMES), min_length=1,
                                  description="ratings mode: UltraFeedback's aspects to rate")
    max_pairs_per_prompt: Optional[int] = Field(
        None, ge=1, description="pairwise mode: completion pairs compared per prompt (a seeded random subset); "
                                "None: every pair")
    max_rationale_chars: int = Field(400, ge=8, le=8000, description="longest rationale; structured output enforces it")
    reference: bool = Field(True, description="show the judge the seed's gold answer when it has one "
                                              "(reference-guided judging)")

    @model_validator(mode="after")
    def _distinct(self) -> "JudgeStage":
        return _no_repeats(self, "models", "aspects")


class ChosenScreen(_Strict):
    """A model screen of chosen solutions: the critique stage's critic, prompt and schema, asked about
    each correct solution that passed the rule checks; only a critique that finds every step and the
    final answer correct lets the solution be chosen."""

    model: str = Field(description="key under `models`: the critic")
    max_explanation_chars: int = Field(400, ge=8, le=8000, description="longest explanation of one step")


class PairStage(_Strict):
    """Binarizes to chosen / rejected. `verified`: a correct against an incorrect solution (no judge);
    `ratings`: by mean UltraFeedback rating; `pairwise`: the winner of a both-orders comparison."""

    method: Literal["verified", "ratings", "pairwise"] = "verified"
    binarize: Literal["best_vs_random_lower", "best_vs_worst"] = Field(
        "best_vs_random_lower", description="ratings method: chosen is the best-rated completion (a tie for best "
                                            "drops the prompt); rejected a random lower-rated one, or the worst")
    min_margin: float = Field(0.0, ge=0.0, le=4.0, description="ratings method: least score difference kept")
    max_pairs_per_problem: int = Field(1, ge=1, description="verified and pairwise methods")
    screen: Optional[ChosenScreen] = Field(
        None, description="verified method: a critic model judges each candidate chosen solution step by step, on "
                          "top of the rule checks (every written computation holds, the answer is stated as "
                          "asked); a solution it finds a wrong step in, or whose answer it calls wrong, is not chosen")


ErrorTypeName = Literal["calculation", "operator", "question_value", "earlier_step_value", "unit_conversion",
                        "counting", "missing_step"]
ERROR_TYPES: tuple[str, ...] = get_args(ErrorTypeName)
InjectionSource = Literal["gold", "samples"]


class _InjectBase(_Strict):
    sources: list[InjectionSource] = Field(
        default_factory=lambda: ["gold"], min_length=1,
        description="gold: the seeds' gold solutions; samples: the generator's own verified-correct solutions "
                    "(on-policy errors, as LEMMA argues)")
    error_types: list[ErrorTypeName] = Field(default_factory=lambda: list(ERROR_TYPES), min_length=1)
    max_per_source: Optional[int] = Field(
        None, ge=1, description="error types per source solution (a seeded random subset; the rule stage tries "
                                "types in a seeded random order until this many are kept); None: all")
    include_originals: bool = Field(
        True, description="also label each corrupted source's original solution as correct (label -1), so "
                          "exports and critiques see both sides")

    @model_validator(mode="after")
    def _distinct(self) -> "_InjectBase":
        return _no_repeats(self, "sources", "error_types")


class InjectStage(_InjectBase):
    """Deterministic typed error operators on solutions with written-out arithmetic (LEMMA, ProcessBench)."""


class InjectLLMStage(_InjectBase):
    """A teacher model injects one error of a given type into a correct solution (LEMMA)."""

    model: str = Field(description="key under `models`: the teacher")
    max_per_source: Optional[int] = Field(
        1, ge=1, description="error types asked for per source solution (a seeded random subset); None: all")
    prompt: Literal["inject_error"] = "inject_error"
    only_uncovered: bool = Field(
        False, description="only the source solutions stages.inject kept no injection for (no written-out "
                           "computation, or no operator applied): the teacher covers what the rules cannot")


class MCLabelStage(_Strict):
    """Math-Shepherd's Monte Carlo step labels for the generated solutions."""

    model: Optional[str] = Field(None, description="key under `models`: the completer; None: the first generator")
    rollouts: int = Field(4, ge=1, le=64, description="completions sampled from each step's prefix")
    max_steps: int = Field(12, ge=1, le=64, description="solutions with more steps are dropped (cost grows with steps)")
    max_solutions_per_problem: Optional[int] = Field(None, ge=1)


CritiqueTarget = Literal["injected", "original", "monte_carlo"]


class CritiqueStage(_Strict):
    """Step-wise critiques of labelled solutions, kept when they agree with the labels (AutoMathCritique,
    DeepCritic, CFT)."""

    model: str = Field(description="key under `models`: the critic")
    n: int = Field(1, ge=1, le=16, description="critiques sampled per solution; each is kept or dropped on its own")
    reveal_error: bool = Field(
        False, description="tell the critic the known first error (AutoMathCritique gives the injected error "
                           "to the critique writer); the exported SFT input never contains it")
    max_explanation_chars: int = Field(
        400, ge=8, le=8000, description="longest explanation of one step; structured output enforces it")
    targets: list[CritiqueTarget] = Field(
        default_factory=lambda: ["injected", "original", "monte_carlo"], min_length=1,
        description="which labelled solutions to critique, by where their labels come from")
    prompt: Literal["critique_steps"] = "critique_steps"


class BenchmarkSpec(_Strict):
    """A benchmark the build must not overlap: a local file or folder (`path`) or a Hub dataset (`repo`)."""

    name: str = Field(min_length=1)
    path: Optional[Path] = Field(None, description="JSONL (.gz), Parquet, or a local datasets folder; relative to "
                                                   "the recipe")
    repo: Optional[str] = Field(None, pattern=r"^[A-Za-z0-9][\w.-]*/[\w.-]+$",
                                description="a Hub dataset instead of a path, e.g. openai/gsm8k")
    config: Optional[str] = Field(None, description="Hub dataset config, e.g. main")
    split: str = Field("test", min_length=1, description="Hub dataset split")
    revision: Optional[str] = Field(None, description="Hub branch, tag or commit; None: main (the commit is recorded)")
    fields: list[str] = Field(min_length=1, description="the text fields to take n-grams of")

    @model_validator(mode="after")
    def _one_source(self) -> "BenchmarkSpec":
        if (self.path is None) == (self.repo is None):
            raise ValueError("give either path (a local file or folder) or repo (a Hub dataset), not both or neither")
        return self


class LengthLimits(_Strict):
    min_chars: int = Field(1, ge=0, description="shortest response kept")
    max_chars: int = Field(20_000, ge=1, description="longest response kept")
    max_prompt_chars: int = Field(20_000, ge=1)


class NearDedupSpec(_Strict):
    threshold: float = Field(0.8, gt=0.0, le=1.0, description="Jaccard similarity at which records are duplicates")
    num_perm: int = Field(128, ge=16, le=1024, description="MinHash permutations")
    ngram: int = Field(5, ge=1, le=64, description="word n-gram shingles")


class DecontaminateSpec(_Strict):
    benchmarks: list[BenchmarkSpec] = Field(min_length=1)
    ngram: int = Field(13, ge=4, le=64, description="word n-gram length whose overlap counts (GPT-3 used 13)")


class FilterStage(_Strict):
    """The quality filters, in this order, over what the build releases (pairs, labelled solutions,
    critiques); every drop is kept in rejects with its reason."""

    format: bool = True
    length: Optional[LengthLimits] = Field(default_factory=LengthLimits)
    exact_dedup: bool = True
    near_dedup: Optional[NearDedupSpec] = None
    decontaminate: Optional[DecontaminateSpec] = None
    against_earlier_versions: bool = Field(
        False, description="dedup also against every earlier version of this dataset built from a different "
                           "recipe (an identical rebuild is not compared with itself, so it stays the same version)")


CodeErrorTypeName = Literal["incomplete_structure", "indentation", "import", "api_misuse", "missing_definition",
                           "boundary_condition", "wrong_argument", "logic_error", "hallucinated_api", "io_format"]
CODE_ERROR_TYPES: tuple[str, ...] = get_args(CodeErrorTypeName)


class CodeInjectStage(_Strict):
    """Typed bugs in passing programs (Dou et al. 2024's taxonomy), kept only when the tests then fail."""

    sources: list[InjectionSource] = Field(
        default_factory=lambda: ["gold"], min_length=1,
        description="gold: the seeds' canonical solutions; samples: the generator's programs that pass the tests")
    error_types: list[CodeErrorTypeName] = Field(default_factory=lambda: list(CODE_ERROR_TYPES), min_length=1)
    max_per_source: Optional[int] = Field(None, ge=1, description="error types tried per program (seeded subset)")
    timeout_s: float = Field(10.0, gt=0, le=600, description="per test run in the sandbox")
    isolation: Literal["namespaces", "process"] = Field(
        "namespaces", description="namespaces (bubblewrap, the default) or process (no namespaces: only where "
                                  "bubblewrap cannot run; the dataset card says so)")
    include_originals: bool = Field(True, description="also critique each corrupted program's original")


class CodeCritiqueStage(_Strict):
    """Critiques of programs ending in \\conclusion{T|F} (Critique-Coder), kept when they match the tests."""

    model: str = Field(description="key under `models`: the critic")
    n: int = Field(1, ge=1, le=16)
    targets: list[Literal["injected", "original", "sample"]] = Field(
        default_factory=lambda: ["injected", "original"], min_length=1,
        description="injected: programs with a known bug; original: their passing sources; sample: the "
                    "generator's programs, labelled by running the tests")
    prompt: Literal["critique_code"] = "critique_code"


def did_you_mean(word: str, choices: "list[str] | set[str]") -> str:
    """' (did you mean X?)' when a choice is close to the word, else ''."""
    import difflib

    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
