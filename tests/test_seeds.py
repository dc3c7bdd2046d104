import json
import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from synth.errors import SeedError
from synth.recipe import FileSeeds, ProceduralSeeds
from synth.seeds import load_seeds, parse_gsm8k_answer
from tests.conftest import GSM8K_TRAIN

_EQ = re.compile(r"(-?\d+) ([-+*/]) (\d+) = (-?\d+)")


def test_gsm8k_train_seeds():
    seeds = load_seeds(FileSeeds(type="file", path=GSM8K_TRAIN, limit=50))
    assert len(seeds) == 50
    first = seeds[0]
    assert first.gold_answer == "72"
    assert first.gold_steps[0].startswith("Natalia sold 48/2 = 24 clips")  # <<48/2=24>> removed
    assert all("<<" not in s for seed in seeds for s in seed.gold_steps)
    assert first.seed_id == "train-line1" and "train.jsonl:line 1" in first.source


def test_gsm8k_answer_thousands():
    steps, answer = parse_gsm8k_answer("a\nb <<1000*2=2000>>2,000\n#### 2,000")
    assert answer == "2000" and steps == ["a", "b 2,000"]


def _write(tmp_path, lines):
    p = tmp_path / "seeds.jsonl"
    p.write_text("\n".join(lines) + "\n")
    return FileSeeds(type="file", path=p)


def test_broken_json_line_is_reported(tmp_path):
    good = json.dumps({"question": "q", "answer": "x\n#### 1"})
    spec = _write(tmp_path, [good, good, '{"question": "q", "answer": ', good])
    with pytest.raises(SeedError, match=r"seeds.jsonl:3: not valid JSON"):
        load_seeds(spec)


def test_missing_field_is_reported(tmp_path):
    good = json.dumps({"question": "q", "answer": "x\n#### 1"})
    spec = _write(tmp_path, [good, json.dumps({"question": "q"})])
    with pytest.raises(SeedError, match=r"seeds.jsonl:2: missing field 'answer'"):
        load_seeds(spec)


def test_answer_without_final_line_is_reported(tmp_path):
    spec = _write(tmp_path, [json.dumps({"question": "q", "answer": "no final"})])
    with pytest.raises(SeedError, match=r"seeds.jsonl:1: field 'answer': answer has no '#### <final answer>' line"):
        load_seeds(spec)


def test_parquet_seeds_and_bad_row(tmp_path):
    p = tmp_path / "s.parquet"
    pq.write_table(pa.Table.from_pylist([{"problem": "p", "gold_steps": ["1 + 1 = 2"], "gold_answer": "2"},
                                         {"problem": "p2", "gold_steps": None, "gold_answer": "3"}]), p)
    with pytest.raises(SeedError, match=r"s.parquet: row 1: field 'gold_steps' should be list"):
        load_seeds(FileSeeds(type="file", path=p, format="synth"))
    ok = load_seeds(FileSeeds(type="file", path=p, format="synth", limit=1))
    assert ok[0].gold_answer == "2" and ok[0].gold_steps == ["1 + 1 = 2"]


def test_procedural_is_reproducible_and_correct():
    spec = ProceduralSeeds(type="procedural", count=300, seed=5, min_steps=1, max_steps=4)
    a, b = load_seeds(spec), load_seeds(spec)
    assert a == b
    assert load_seeds(ProceduralSeeds(type="procedural", count=300, seed=6)) != a
    assert len({s.seed_id for s in a}) == 300
    for seed in a:
        assert 1 <= len(seed.gold_steps) <= 4
        value = None
        for step in seed.gold_steps:
            eqs = _EQ.findall(step)
            assert len(eqs) == 1, step  # one computation per step
            x, op, y, z = eqs[0]
            x, y, z = int(x), int(y), int(z)
            assert value is None or x == value, "each step starts from the previous result"
            assert {"+": x + y, "-": x - y, "*": x * y, "/": x // y if y and x % y == 0 else None}[op] == z
            value = z
        assert str(value) == seed.gold_answer
        assert int(seed.gold_answer) > 0


def test_cli_reports_broken_seed_file_before_running(tmp_path):
    from typer.testing import CliRunner

    from synth.cli import app

    (tmp_path / "seeds.jsonl").write_text('{"question": "q", "answer": "a\\n#### 1"}\n{"question": \n')
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: broken\nkind: preference\nseeds: {type: file, path: seeds.jsonl}\nmodels: {generator: {}}\n"
                      "stages: {generate: {}, pair: {}}\n")
    result = CliRunner().invoke(app, ["build", str(recipe), "--data-dir", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "seeds.jsonl:2: not valid JSON" in result.output
    assert not (tmp_path / "out").exists()
