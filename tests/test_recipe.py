from pathlib import Path

import pytest
from typer.testing import CliRunner

from synth.cli import app
from synth.errors import RecipeError
from synth.recipe import load_recipe
from tests.conftest import REPO, write_recipe


def test_quickstart_recipe_is_valid():
    recipe, sha = load_recipe(REPO / "recipes" / "quickstart.yaml")
    assert recipe.seeds.type == "procedural" and recipe.seeds.count == 200
    assert recipe.stages.generate.n == 4
    assert len(sha) == 64


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    path = write_recipe(tmp_path)
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    "old,new,expected",
    [
        ("      temperature: 0.8", "      temprature: 0.8", "models.generator.sampling.temprature: unknown field"),
        ("  count: 16", "  count: many", "seeds.count"),
        ("    n: 4", "    n: 0", "stages.generate.n"),
        ("kind: preference", "kind: sentiment", "kind"),
        ("  type: procedural\n  count: 16\n  seed: 3\n  min_steps: 1\n  max_steps: 1",
         "  type: file\n  path: does-not-exist.jsonl", "seeds.path: file not found"),
        ("  generate:\n    n: 4", "  generate:\n    models: [critic]\n    n: 4", "stages.generate.models names 'critic'"),
        ("    model: embedded:smollm2-135m-instruct", "    backend: openai\n    model: smollm2", "models.generator.base_url: Field required"),
        ("    model: embedded:smollm2-135m-instruct", "    backend: openai\n    base_url: http://127.0.0.1:1/v1\n    model: smollm2\n    max_model_len: 1024",
         "models.generator.max_model_len: unknown field"),
        ("    model: embedded:smollm2-135m-instruct", "    backend: tgi", "backend must be 'vllm' or 'openai'"),
    ],
)
def test_bad_recipe_names_field_and_file(tmp_path, old, new, expected):
    path = _broken(tmp_path, old, new)
    with pytest.raises(RecipeError) as err:
        load_recipe(path)
    assert str(path) in str(err.value)
    assert expected in str(err.value)


def test_bad_yaml_names_line(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("name: x\nkind: [preference\n")
    with pytest.raises(RecipeError, match=r"r.yaml: line \d+, column \d+: not valid YAML"):
        load_recipe(path)


def test_cli_rejects_bad_recipe_before_running_anything(tmp_path):
    path = _broken(tmp_path, "    n: 4", "    n: -1")
    result = CliRunner().invoke(app, ["build", str(path), "--data-dir", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "stages.generate.n" in result.output
    assert not (tmp_path / "out").exists()  # nothing ran, nothing was written


def test_cli_recipe_check_ok(tmp_path):
    result = CliRunner().invoke(app, ["recipe", "check", str(write_recipe(tmp_path))])
    assert result.exit_code == 0, result.output
    assert "tiny-math-pairs" in result.output


@pytest.mark.parametrize("path", sorted((REPO / "recipes").glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_recipe_is_valid(path):
    """Each recipe loads, its seed file and benchmark files exist, and the card will cite papers."""
    recipe, _ = load_recipe(path)
    assert recipe.stage_names()[0] == "seeds" and len(recipe.stage_names()) >= 2
    flt = recipe.stages.filter
    if flt is not None and flt.decontaminate is not None:
        assert all(b.path.exists() for b in flt.decontaminate.benchmarks)
    if "gsm8k" in path.name or (recipe.seeds.type == "file" and recipe.seeds.format == "gsm8k"):
        assert flt is not None and flt.decontaminate is not None, "GSM8K recipes decontaminate against its test split"
