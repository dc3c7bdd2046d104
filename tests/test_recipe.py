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
        ("  type: procedural\n  count: 16\n  random_seed: 3\n  min_steps: 1\n  max_steps: 1",
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


# ---- self-contained recipes and `synth recipe check` reading the data (issue 18) ----------------

def _recipe_files() -> list[str]:
    """recipes/ as a clone of the repository has it: tracked files and new ones git does not ignore."""
    import subprocess

    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "recipes"], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout.split()
    return [f for f in out if (REPO / f).is_file()]


def test_no_recipe_reads_a_path_outside_the_repository():
    import yaml

    def paths(node, where=""):
        if isinstance(node, dict):
            for k, v in node.items():
                yield from paths(v, f"{where}.{k}" if where else str(k))
                if k == "path" and isinstance(v, str):
                    yield where, v
        elif isinstance(node, list):
            for i, v in enumerate(node):
                yield from paths(v, f"{where}.{i}")

    found = 0
    for recipe in sorted((REPO / "recipes").glob("*.yaml")):
        for where, value in paths(yaml.safe_load(recipe.read_text())):
            found += 1
            target = (recipe.parent / value).resolve()
            assert not Path(value).is_absolute() and target.is_relative_to(REPO), f"{recipe.name}: {where}: {value}"
            assert target.exists(), f"{recipe.name}: {where}: {value} is not in the repository"
    assert found >= 10  # the scan saw the seed and benchmark paths


def test_every_recipe_passes_check_on_a_copy_of_the_repository_alone(tmp_path):
    """Only the repository's recipes/ folder is copied: a recipe reaching outside it fails here."""
    import shutil

    clone = tmp_path / "clone"
    for f in _recipe_files():
        (clone / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / f, clone / f)
    recipes = sorted((clone / "recipes").glob("*.yaml"))
    assert len(recipes) == len(list((REPO / "recipes").glob("*.yaml")))
    for recipe in recipes:
        result = CliRunner().invoke(app, ["recipe", "check", str(recipe)])
        assert result.exit_code == 0, result.output
    for data in ("recipes/seeds/README.md", "recipes/benchmarks/README.md", "recipes/seeds/gsm8k/LICENSE",
                 "recipes/seeds/humaneval/LICENSE", "recipes/benchmarks/gsm8k/LICENSE"):
        assert (clone / data).is_file(), data


def _check(tmp_path: Path, body: str):
    path = tmp_path / "r.yaml"
    path.write_text(body)
    return CliRunner().invoke(app, ["recipe", "check", str(path)])


INJECT = "name: x\nkind: error_injection\nstages: {inject: {}}\n"


def test_check_reads_the_data_empty_file_and_wrong_field(tmp_path):
    (tmp_path / "empty.jsonl").write_text("")
    out = _check(tmp_path, INJECT + "seeds: {type: file, path: empty.jsonl}\n")
    assert out.exit_code == 2 and "no seed records found" in out.output
    (tmp_path / "math.jsonl").write_text('{"problem": "p", "solution": "s \\\\boxed{1}"}\n')
    out = _check(tmp_path, INJECT + "seeds: {type: file, path: math.jsonl, format: gsm8k}\n")
    assert out.exit_code == 2 and "missing field 'question'" in out.output and "seeds.fields.problem" in out.output
    out = _check(tmp_path, INJECT + "seeds: {type: file, path: math.jsonl, format: math, fields: {problem: problm}}\n")
    assert out.exit_code == 2 and "(did you mean 'problem'?)" in out.output
    assert _check(tmp_path, INJECT + "seeds: {type: file, path: math.jsonl, format: math}\n").exit_code == 0
    bench = INJECT + ("seeds: {type: file, path: math.jsonl, format: math}\nstages: {inject: {}, filter: {decontaminate: "
                      "{benchmarks: [{name: b, path: math.jsonl, fields: [question]}]}}}\n")
    out = _check(tmp_path, bench.replace("stages: {inject: {}}\n", ""))
    assert out.exit_code == 2 and "benchmarks.0 (b)" in out.output and "has no field 'question'" in out.output


def test_check_reports_every_missing_path_at_once(tmp_path):
    out = _check(tmp_path, "name: x\nkind: error_injection\nseeds: {type: file, path: nope.jsonl}\n"
                           "stages:\n  inject: {}\n  filter:\n    decontaminate:\n      benchmarks:\n"
                           "        - {name: a, path: gone-a.jsonl, fields: [q]}\n"
                           "        - {name: b, path: gone-b.parquet, fields: [q]}\n")
    assert out.exit_code == 2
    assert "3 paths not found" in out.output
    for name in ("nope.jsonl", "gone-a.jsonl", "gone-b.parquet"):
        assert name in out.output


def test_misspelt_stage_and_licence_get_a_suggestion(tmp_path):
    out = _check(tmp_path, "name: x\nkind: error_injection\nseeds: {type: procedural, count: 2}\nstages: {injct: {}}\n")
    assert out.exit_code == 2 and "stages.injct: unknown field (did you mean 'inject'?)" in out.output
    out = _check(tmp_path, INJECT + "seeds: {type: procedural, count: 2}\npublish: {license: MIT License}\n")
    assert out.exit_code == 2 and "not a Hub licence identifier (did you mean 'mit'?)" in out.output


def test_splits_must_leave_a_train_split(tmp_path):
    out = _check(tmp_path, INJECT + "seeds: {type: procedural, count: 2}\nsplits: {test: 0.6, validation: 0.5}\n")
    assert out.exit_code == 2 and "leaving nothing for train" in out.output


def test_version_flag():
    out = CliRunner().invoke(app, ["--version"])
    assert out.exit_code == 0 and out.output.startswith("synth ") and any(c.isdigit() for c in out.output)


def test_recipe_reference_is_up_to_date():
    """docs/recipe-reference.md is generated from the models; regenerate it after changing a field:
    synth recipe reference --out docs/recipe-reference.md"""
    from synth.reference import reference
    from synth.recipe import Recipe, VLLMModel

    committed = (REPO / "docs" / "recipe-reference.md").read_text()
    assert committed == reference() + "\n", "run: synth recipe reference --out docs/recipe-reference.md"
    for name in [*Recipe.model_fields, *VLLMModel.model_fields]:
        assert f"| `{name}` |" in committed


def test_a_recipe_with_a_renamed_field_is_told_the_new_name(tmp_path):
    """`seed` meant four things; the recipe's and the generator's random seeds are now `random_seed`.
    A recipe written before the rename (a user file) gets an error naming the new name and where."""
    old = (REPO / "recipes" / "quickstart.yaml").read_text().replace("random_seed:", "seed:")
    assert old.count("seed:") == 2  # the recipe's, and the procedural generator's under seeds
    path = tmp_path / "old.yaml"
    path.write_text(old)
    with pytest.raises(RecipeError) as e:
        load_recipe(path)
    msg = str(e.value)
    assert "seed is now called random_seed" in msg and "seeds.seed is now called seeds.random_seed" in msg
    assert "synth recipe check" in msg
