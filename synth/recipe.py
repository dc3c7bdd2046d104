"""Recipes: what to build, validated in full before anything runs.

A recipe is YAML. Every model is `extra="forbid"` so a misspelt field is an error, not a silently
ignored setting; errors name the field's path and the file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Literal, Optional, Union, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, field_validator, model_validator

from synth.errors import RecipeError


def _no_repeats(model, *fields: str):
    """A list field that names a value twice is a slip in the recipe, not a weight."""
    for name in fields:
        values = getattr(model, name)
        if len(set(values)) != len(values):
            raise ValueError(f"{name} names a value twice")
    return model


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

    type: Literal["procedural"]
    count: int = Field(ge=1, le=1_000_000, description="problems generated")
    seed: int = Field(0, description="the generator's seed: the same seed gives the same problems")
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
        None, ge=1, description="error types tried per source solution (a seeded random subset); None: all")
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


class Stages(_Strict):
    """Stages run in this order, each only when present (verify runs whenever generate does)."""

    generate: Optional[GenerateStage] = None
    verify: VerifyStage = Field(default_factory=VerifyStage)
    inject: Optional[InjectStage] = None
    inject_llm: Optional[InjectLLMStage] = None
    mc_label: Optional[MCLabelStage] = None
    critique: Optional[CritiqueStage] = None
    code_inject: Optional[CodeInjectStage] = None
    code_critique: Optional[CodeCritiqueStage] = None
    judge: Optional[JudgeStage] = None
    pair: Optional[PairStage] = None
    filter: Optional[FilterStage] = None


TableName = Literal["solutions", "pairs", "injections", "mc_labels", "critiques", "processbench", "math_shepherd",
                    "prm_stepwise", "critique_sft", "ratings", "comparisons", "dpo", "ultrafeedback", "code_injections",
                   "code_critiques"]


class Gates(_Strict):
    """Recipe-level bounds added to the kind's expectation suite in validation/."""

    min_rows: dict[TableName, int] = Field(default_factory=dict)


PaperKey = Literal["gsm8k", "lemma", "processbench", "math-shepherd", "automathcritique", "deepcritic", "cft", "irpo",
                   "ultrafeedback", "zephyr", "mt-bench", "dpo", "length-correlations", "humaneval", "critique-coder",
                   "code-bugs"]


class Publish(_Strict):
    license: str = Field("apache-2.0", description="a Hub licence identifier (apache-2.0, mit, cc-by-4.0, ..., "
                                                   "other); the licence of the data you publish, which must allow "
                                                   "what the seeds' and models' licences require")
    version: Optional[str] = Field(None, pattern=r"^\d+\.\d+\.\d+$",
                                   description="the first version's number; None: 1.0.0, then bumped by the catalog")
    pretty_name: Optional[str] = Field(None, description="the card's title; None: the dataset's name")
    repo: Optional[str] = Field(None, pattern=r"^[A-Za-z0-9][\w.-]*/[\w.-]+$",
                                description="the Hub repo ORG/NAME the card's load snippet names (synth publish "
                                            "--repo names it too)")
    citations: list[PaperKey] = Field(
        default_factory=list, description="papers the recipe follows, cited in the card beside each stage's own")

    @field_validator("license")
    @classmethod
    def _hub_license(cls, value: str) -> str:
        from synth.licenses import check_license

        return check_license(value)


Kind = Literal["preference", "error_injection", "critique"]

# What each kind of dataset needs to have run: one of each inner tuple.
_KIND_NEEDS: dict[str, list[tuple[str, ...]]] = {
    "preference": [("generate",), ("pair",)],
    "error_injection": [("inject", "inject_llm", "code_inject")],
    "critique": [("critique", "mc_label", "code_critique")],
}
# Stages that read what another stage makes.
_STAGE_NEEDS: dict[str, tuple[str, ...]] = {
    "pair": ("generate",), "mc_label": ("generate",), "critique": ("inject", "inject_llm", "mc_label"),
    "judge": ("generate",),
    "code_critique": ("code_inject", "generate"),
}


class Recipe(_Strict):
    """A recipe file: what to build, from which seeds, with which models and stages."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=96,
                      description="the dataset's name in the catalog (lower case, digits, - and _)")
    kind: Kind = Field(description="preference: needs generate and pair; error_injection: inject, inject_llm or "
                                   "code_inject; critique: critique, mc_label or code_critique")
    description: str = Field("", description="the card's first paragraph")
    seed: int = Field(0, description="seeds every sampled request and every seeded choice of the build")
    seeds: SeedSpec = Field(description="where the problems come from: type procedural, file or hub")
    models: dict[str, ModelSpec] = Field(default_factory=dict,
                                         description="models by the key stages name them with; backend vllm "
                                                     "(default) or openai")
    stages: Stages = Field(default_factory=Stages, description="the stages to run, each only when present")
    gates: Gates = Field(default_factory=Gates, description="extra validation bounds")
    publish: Publish = Field(default_factory=Publish, description="the card's licence, title, citations, repo")
    shards: int = Field(1, ge=1, le=10_000, description="seed shards, each run through the stages as its own task "
                                                        "(on Ray with `synth build --runner ray`); the filter stage "
                                                        "runs once over the merged result")
    splits: dict[str, float] = Field(
        default_factory=dict,
        description="held-out splits and their share of the seeds, e.g. {test: 0.05}; the rest is train. Records "
                    "go to the split of their seed (a hash of its id), so no problem is in two splits")

    @field_validator("name")
    @classmethod
    def _name_can_be_a_schema(cls, v: str) -> str:
        from catalog.store import RESERVED_SCHEMAS  # the name is the dataset's SQL schema in the catalog

        if v in RESERVED_SCHEMAS:
            raise ValueError(f"{v!r} is reserved by DuckDB, whose catalog schema takes the dataset's name; "
                             f"choose another name")
        return v

    @model_validator(mode="after")
    def _splits_add_up(self) -> "Recipe":
        import re as _re

        for name, share in self.splits.items():
            if name == "train" or not _re.fullmatch(r"[a-z][a-z0-9_]*", name):
                raise ValueError(f"splits: {name!r} is not a held-out split name (lower case, not 'train': train "
                                 f"is what the other splits leave)")
            if not 0.0 < share < 1.0:
                raise ValueError(f"splits.{name}: share {share} should be between 0 and 1")
        if sum(self.splits.values()) >= 1.0:
            raise ValueError(f"splits: the shares add up to {sum(self.splits.values()):g}, leaving nothing for train")
        return self

    def _need_model(self, where: str, key: str) -> None:
        if key not in self.models:
            known = ", ".join(sorted(self.models)) or "none"
            raise ValueError(f"{where} names {key!r}, which is not under models (have: {known})")

    @model_validator(mode="after")
    def _stages_fit_together(self) -> "Recipe":
        st = self.stages
        present = {name for name in type(st).model_fields if name != "verify" and getattr(st, name) is not None}
        for alternatives in _KIND_NEEDS[self.kind]:
            if not present & set(alternatives):
                raise ValueError(f"kind {self.kind} needs stages.{' or stages.'.join(alternatives)}")
        for stage, needs in _STAGE_NEEDS.items():
            if stage in present and not present & set(needs):
                raise ValueError(f"stages.{stage} needs stages.{' or stages.'.join(needs)} to run before it")
        if st.inject_llm is not None and st.inject_llm.only_uncovered and st.inject is None:
            raise ValueError("stages.inject_llm.only_uncovered takes the sources stages.inject could not corrupt; "
                             "add stages.inject, or set only_uncovered: false")
        for name in ("inject", "inject_llm", "code_inject"):
            cfg = getattr(st, name)
            if cfg is not None and "samples" in cfg.sources and st.generate is None:
                raise ValueError(f"stages.{name}.sources has 'samples', which needs stages.generate")
        if st.generate is not None:
            for m in st.generate.models:
                self._need_model("stages.generate.models", m)
            if len(set(st.generate.models)) != len(st.generate.models):
                raise ValueError("stages.generate.models names a model twice")
        for name in ("inject_llm", "mc_label", "critique", "code_critique"):
            cfg = getattr(st, name)
            if cfg is not None and cfg.model is not None:
                self._need_model(f"stages.{name}.model", cfg.model)
        if st.pair is not None and st.pair.method == "verified" and st.generate is not None \
                and st.generate.prompt == "respond":
            raise ValueError("stages.pair.method verified checks final answers or runs tests, which the respond "
                             "prompt's free-form responses do not have (use solve_math or solve_code); judge them "
                             "instead (stages.judge, pair.method ratings or pairwise)")
        if st.mc_label is not None and st.generate is not None and st.generate.prompt != "solve_math":
            raise ValueError(f"stages.mc_label labels a step by whether rollouts from it reach the gold answer, which "
                             f"needs a final answer to check; the {st.generate.prompt} prompt's completions have none "
                             f"(every last step would be labelled wrong). Use stages.generate.prompt: solve_math")
        if st.pair is not None and st.pair.screen is not None:
            if st.pair.method != "verified":
                raise ValueError("stages.pair.screen screens the chosen solutions of verified pairs; with method "
                                 f"{st.pair.method} the judge already decides which is chosen")
            self._need_model("stages.pair.screen.model", st.pair.screen.model)
        if st.judge is not None:
            for m in st.judge.models:
                self._need_model("stages.judge.models", m)
        if st.pair is not None and st.pair.method != "verified":
            if st.judge is None or st.judge.mode != st.pair.method:
                raise ValueError(f"stages.pair.method {st.pair.method} needs stages.judge with mode {st.pair.method}")
        if st.judge is not None and (st.pair is None or st.pair.method != st.judge.mode):
            raise ValueError(f"stages.judge (mode {st.judge.mode}) needs stages.pair with method {st.judge.mode}: "
                             f"otherwise its judgments decide nothing")
        return self

    def stage_names(self) -> list[str]:
        """The stages this recipe runs, in order (seeds first)."""
        st = self.stages
        out = ["seeds"]
        if st.generate is not None:
            out += ["generate", "verify"]
        out += [n for n in ("inject", "inject_llm", "mc_label", "critique", "code_inject", "code_critique", "judge",
                            "pair", "filter")
                if getattr(st, n) is not None]
        return out


def _format_errors(err: ValidationError, path: Path) -> str:
    lines = [f"{path}: recipe is invalid ({err.error_count()} error{'s' if err.error_count() != 1 else ''}):"]
    for e in err.errors():
        parts = [str(p) for p in e["loc"] if not str(p).startswith(("function-after", "tagged-union"))]
        # Drop the union tags pydantic puts in the path (seeds.procedural.count -> seeds.count).
        if parts[:1] == ["seeds"] and parts[1:2] in (["procedural"], ["file"], ["hub"]):
            del parts[1]
        if parts[:1] == ["models"] and parts[2:3] in (["vllm"], ["openai"]):
            del parts[2]
        loc = ".".join(parts)
        loc = loc or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown field" + (_field_suggestion(e["loc"]) or " (check its spelling and nesting)")
        lines.append(f"  - {loc}: {msg}")
    lines.append(f"Fix the recipe, then check it with: synth recipe check {path}")
    return "\n".join(lines)


def load_recipe(path: str | Path) -> tuple[Recipe, str]:
    """Returns the validated recipe and the sha256 of its text. Relative seed paths are taken from the recipe's folder."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"{path}: recipe file not found")
    text = path.read_text()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise RecipeError(f"{path}:{where}: not valid YAML: {getattr(e, 'problem', e)}") from None
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a recipe is a YAML mapping (name, kind, seeds, models, ...), got {type(data).__name__}")
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as e:
        raise RecipeError(_format_errors(e, path)) from None
    recipe, missing = _resolve_paths(recipe, path.parent)
    if missing:
        raise RecipeError(f"{path}: recipe is invalid ({len(missing)} path{'s' if len(missing) != 1 else ''} not "
                          f"found):\n" + "\n".join(f"  - {m}" for m in missing)
                          + f"\nRelative paths are taken from the recipe's folder ({path.parent}).")
    return recipe, hashlib.sha256(text.encode()).hexdigest()


def _resolve_paths(recipe: Recipe, folder: Path) -> tuple[Recipe, list[str]]:
    """The recipe with its seed and benchmark paths made absolute (relative ones are taken from the
    recipe's folder), and every path that does not exist, so one check reports them all."""
    missing: list[str] = []

    def resolved(p: Path, where: str, want_file: bool) -> Path:
        full = p if p.is_absolute() else folder / p
        if not (full.is_file() if want_file else full.exists()):
            missing.append(f"{where}: {'file ' if want_file else ''}not found: {full}")
        return full.resolve()

    flt = recipe.stages.filter
    if flt is not None and flt.decontaminate is not None:
        benches = [b if b.path is None else b.model_copy(update={"path": resolved(
                       b.path, f"stages.filter.decontaminate.benchmarks.{i}.path", want_file=False)})
                   for i, b in enumerate(flt.decontaminate.benchmarks)]
        decon = flt.decontaminate.model_copy(update={"benchmarks": benches})
        stages = recipe.stages.model_copy(update={"filter": flt.model_copy(update={"decontaminate": decon})})
        recipe = recipe.model_copy(update={"stages": stages})
    if isinstance(recipe.seeds, FileSeeds):
        seeds = recipe.seeds.model_copy(update={"path": resolved(recipe.seeds.path, "seeds.path", want_file=True)})
        recipe = recipe.model_copy(update={"seeds": seeds})
    return recipe, missing


def _models_in(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models_in(arg)]


def did_you_mean(word: str, choices: "list[str] | set[str]") -> str:
    """' (did you mean X?)' when a choice is close to the word, else ''."""
    import difflib

    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _field_suggestion(loc: tuple) -> str:
    """For an unknown field: the closest field name of the model it sits in."""
    models: list[type[BaseModel]] = [Recipe]
    for part in loc[:-1]:
        inner = [m for model in models if str(part) in model.model_fields
                 for m in _models_in(model.model_fields[str(part)].annotation)]
        models = inner or models  # a list index, a dict key or a union tag stays in the same models
    names = {n for m in models for n in m.model_fields}
    return did_you_mean(str(loc[-1]), names)
