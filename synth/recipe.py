"""Recipes: what to build, validated in full before anything runs.

A recipe is YAML. Every model is `extra="forbid"` so a misspelt field is an error, not a silently
ignored setting; errors name the field's path and the file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Literal, Optional, Union

import yaml
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, model_validator

from synth.errors import RecipeError


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
    gpu_memory_utilization: float = Field(0.85, gt=0.0, le=1.0)
    tensor_parallel_size: int = Field(1, ge=1)
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
    type: Literal["procedural"]
    count: int = Field(ge=1, le=1_000_000)
    seed: int = 0
    min_steps: int = Field(1, ge=1, le=8)
    max_steps: int = Field(3, ge=1, le=8)

    @model_validator(mode="after")
    def _steps_in_order(self) -> "ProceduralSeeds":
        if self.min_steps > self.max_steps:
            raise ValueError(f"min_steps ({self.min_steps}) is larger than max_steps ({self.max_steps})")
        return self


class FileSeeds(_Strict):
    type: Literal["file"]
    path: Path
    format: Literal["gsm8k", "synth"] = "gsm8k"
    limit: Optional[int] = Field(None, ge=1)
    offset: int = Field(0, ge=0)


SeedSpec = Annotated[Union[ProceduralSeeds, FileSeeds], Field(discriminator="type")]


class GenerateStage(_Strict):
    models: list[str] = Field(
        default_factory=lambda: ["generator"], min_length=1,
        description="keys under `models`; each samples n solutions per problem with its own backend and sampling")
    n: int = Field(4, ge=1, le=64, description="solutions per problem from each model")
    prompt: Literal["solve_math"] = "solve_math"


class VerifyStage(_Strict):
    pass


class PairStage(_Strict):
    max_pairs_per_problem: int = Field(1, ge=1)


class Stages(_Strict):
    generate: GenerateStage = Field(default_factory=GenerateStage)
    verify: VerifyStage = Field(default_factory=VerifyStage)
    pair: PairStage = Field(default_factory=PairStage)


class Gates(_Strict):
    """Recipe-level bounds added to the kind's expectation suite in validation/."""

    min_rows: dict[Literal["solutions", "pairs"], int] = Field(default_factory=dict)


class Publish(_Strict):
    license: str = "apache-2.0"
    version: Optional[str] = Field(None, pattern=r"^\d+\.\d+\.\d+$")
    pretty_name: Optional[str] = None


class Recipe(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=96)
    kind: Literal["preference"]
    description: str = ""
    seed: int = 0
    seeds: SeedSpec
    models: dict[str, ModelSpec]
    stages: Stages = Field(default_factory=Stages)
    gates: Gates = Field(default_factory=Gates)
    publish: Publish = Field(default_factory=Publish)

    @model_validator(mode="after")
    def _stage_models_exist(self) -> "Recipe":
        for m in self.stages.generate.models:
            if m not in self.models:
                known = ", ".join(sorted(self.models)) or "none"
                raise ValueError(f"stages.generate.models names {m!r}, which is not under models (have: {known})")
        if len(set(self.stages.generate.models)) != len(self.stages.generate.models):
            raise ValueError("stages.generate.models names a model twice")
        return self


def _format_errors(err: ValidationError, path: Path) -> str:
    lines = [f"{path}: recipe is invalid ({err.error_count()} error{'s' if err.error_count() != 1 else ''}):"]
    for e in err.errors():
        parts = [str(p) for p in e["loc"] if not str(p).startswith(("function-after", "tagged-union"))]
        # Drop the union tags pydantic puts in the path (seeds.procedural.count -> seeds.count).
        if parts[:1] == ["seeds"] and parts[1:2] in (["procedural"], ["file"]):
            del parts[1]
        if parts[:1] == ["models"] and parts[2:3] in (["vllm"], ["openai"]):
            del parts[2]
        loc = ".".join(parts)
        loc = loc or "(top level)"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown field (check its spelling and nesting)"
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
    if isinstance(recipe.seeds, FileSeeds):
        seed_path = recipe.seeds.path if recipe.seeds.path.is_absolute() else (path.parent / recipe.seeds.path)
        if not seed_path.is_file():
            raise RecipeError(f"{path}: recipe is invalid:\n  - seeds.path: file not found: {seed_path}")
        recipe = recipe.model_copy(update={"seeds": recipe.seeds.model_copy(update={"path": seed_path.resolve()})})
    return recipe, hashlib.sha256(text.encode()).hexdigest()
