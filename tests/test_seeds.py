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
    assert first.seed_id.startswith("gsm8k-") and first.source.endswith(" line 1")
    assert "train.jsonl" not in first.source and "train" not in first.seed_id  # content, not the file's name


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


def test_a_line_cut_inside_a_string_is_reported_in_plain_words(tmp_path):
    """json names a raw control character `Invalid control character at`, expecting its own
    position after it: the message must not read `at at column`."""
    good = json.dumps({"question": "q", "answer": "x\n#### 1"})
    spec = _write(tmp_path, [good, '{"question": "a line cut \t off'])
    with pytest.raises(SeedError, match=r"seeds.jsonl:2: not valid JSON \(Invalid control character at column \d+\)$"):
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
    spec = ProceduralSeeds(type="procedural", count=300, random_seed=5, min_steps=1, max_steps=4)
    a, b = load_seeds(spec), load_seeds(spec)
    assert a == b
    assert load_seeds(ProceduralSeeds(type="procedural", count=300, random_seed=6)) != a
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


# ---- issue 17: encodings, content ids -----------------------------------------------------------

def test_non_utf8_byte_names_file_line_and_offset(tmp_path):
    good = json.dumps({"question": "q", "answer": "x\n#### 1"}).encode() + b"\n"
    bad = b'{"question": "caf\xe9", "answer": "x\\n#### 1"}\n'
    p = tmp_path / "latin1.jsonl"
    p.write_bytes(good + good + bad)
    offset = 2 * len(good) + bad.index(b"\xe9")
    with pytest.raises(SeedError, match=rf"latin1.jsonl:3: not UTF-8: byte 0xe9 at byte offset {offset} "):
        load_seeds(FileSeeds(type="file", path=p))


def test_utf8_bom_is_accepted(tmp_path):
    p = tmp_path / "bom.jsonl"
    p.write_bytes(b"\xef\xbb\xbf" + json.dumps({"question": "q", "answer": "x\n#### 1"}).encode() + b"\n")
    seeds = load_seeds(FileSeeds(type="file", path=p))
    assert seeds[0].problem == "q" and seeds[0].gold_answer == "1"


def test_seed_ids_and_fingerprint_do_not_depend_on_the_file_name(tmp_path, prefect_harness):
    """The same seed file under another name and folder gives the same ids and the same dataset."""
    import yaml

    from flows.build import build_dataset

    rows = GSM8K_TRAIN.read_bytes().splitlines(keepends=True)[:12]
    a, b = tmp_path / "a" / "train.jsonl", tmp_path / "b" / "renamed-copy.jsonl"
    for f in (a, b):
        f.parent.mkdir()
        f.write_bytes(b"".join(rows))
    assert [s.seed_id for s in load_seeds(FileSeeds(type="file", path=a))] == \
        [s.seed_id for s in load_seeds(FileSeeds(type="file", path=b))]
    fingerprints = []
    for f in (a, b):
        recipe = {"name": "same-seeds", "kind": "error_injection", "random_seed": 1,
                  "seeds": {"type": "file", "path": f.name, "format": "gsm8k"},
                  "stages": {"inject": {"max_per_source": 1}}}
        path = f.parent / "r.yaml"
        path.write_text(yaml.safe_dump(recipe))
        fingerprints.append(build_dataset(str(path), str(f.parent / "data"), progress=False).fingerprint)
    assert fingerprints[0] == fingerprints[1]


def test_exact_duplicate_rows_are_left_out_with_a_reason(tmp_path):
    from synth.seeds import read_seeds

    row = json.dumps({"question": "q", "answer": "x\n#### 1"})
    other = json.dumps({"question": "q2", "answer": "y\n#### 2"})
    got = read_seeds(_write(tmp_path, [row, other, row]))
    assert [s.problem for s in got.seeds] == ["q", "q2"]
    assert len(got.duplicates) == 1 and got.duplicates[0][0].endswith("line 3")


# ---- fields mapping and formats ------------------------------------------------------------------

def test_fields_mapping_reads_other_column_names(tmp_path):
    from synth.recipe import SeedFields

    p = tmp_path / "mine.jsonl"
    p.write_text(json.dumps({"uid": "p-1", "query": "How many?", "response": "2 + 2 = 4\n#### 4"}) + "\n")
    spec = FileSeeds(type="file", path=p, fields=SeedFields(id="uid", problem="query", solution="response"))
    seed = load_seeds(spec)[0]
    assert (seed.seed_id, seed.problem, seed.gold_steps, seed.gold_answer) == ("p-1", "How many?", ["2 + 2 = 4"], "4")
    with pytest.raises(SeedError, match=r"missing field 'question'.*did you mean|missing field 'question'"):
        load_seeds(FileSeeds(type="file", path=p))
    with pytest.raises(SeedError, match=r"missing field 'querry'.*\(did you mean 'query'\?\)"):
        load_seeds(FileSeeds(type="file", path=p, fields=SeedFields(problem="querry", solution="response")))


def test_math_format_boxed_answer_and_steps(tmp_path):
    p = tmp_path / "math.parquet"
    solution = ("We have $x^2 = 4$, so $x = \\pm 2$. Since $x > 0$, we take the positive root.\n\n"
                "Therefore the answer is $\\boxed{\\frac{4}{2}}$.")
    pq.write_table(pa.Table.from_pylist([{"problem": "Solve $x^2=4$ for $x>0$.", "solution": solution}]), p)
    seed = load_seeds(FileSeeds(type="file", path=p, format="math"))[0]
    assert seed.gold_answer == "\\frac{4}{2}"
    assert seed.gold_steps == ["We have $x^2 = 4$, so $x = \\pm 2$.", "Since $x > 0$, we take the positive root.",
                               "Therefore the answer is $\\boxed{\\frac{4}{2}}$."]
    pq.write_table(pa.Table.from_pylist([{"problem": "p", "solution": "no box here"}]), p)
    with pytest.raises(SeedError, match=r"row 0: field 'solution' has no \\boxed"):
        load_seeds(FileSeeds(type="file", path=p, format="math"))


def test_math_steps_keep_display_math_whole():
    from synth.seeds import split_math_steps

    text = "First, note that\n$$a = 1. B = 2.$$ Then $a + 1 = 2$. So we are done."
    assert split_math_steps(text) == ["First, note that $$a = 1. B = 2.$$ Then $a + 1 = 2$.", "So we are done."]


MBPP_ROW = {"task_id": 11, "text": "Write a python function to remove first and last occurrence of a given character "
            "from the string.",
            "code": "def remove_Occ(s,ch): \r\n    for i in range(len(s)): \r\n        if (s[i] == ch): \r\n"
                    "            s = s[0 : i] + s[i + 1:] \r\n            break\r\n    for i in range(len(s) - 1,-1,-1):"
                    "  \r\n        if (s[i] == ch): \r\n            s = s[0 : i] + s[i + 1:] \r\n            break\r\n"
                    "    return s ",
            "test_list": ['assert remove_Occ("hello","l") == "heo"', 'assert remove_Occ("abcda","a") == "bcd"',
                          'assert remove_Occ("PHP","P") == "H"']}


def test_mbpp_format_runs_its_own_tests_in_the_sandbox(tmp_path):
    from synth.code import checking_program
    from synth.sandbox import run_program

    p = tmp_path / "mbpp.jsonl"
    wrong = dict(MBPP_ROW, task_id=12, code=MBPP_ROW["code"].replace("return s ", "return s[::-1]"))
    p.write_text(json.dumps(MBPP_ROW) + "\n" + json.dumps(wrong) + "\n")
    seeds = load_seeds(FileSeeds(type="file", path=p, format="mbpp"))
    ok, bad = seeds
    assert ok.seed_id == "11" and ok.entry_point == "remove_Occ" and ok.problem.startswith("def remove_Occ(s, ch):")
    assert "def check(candidate):" in ok.tests and 'candidate("hello","l")' in ok.tests
    assert run_program(checking_program(ok, ok.gold_steps[0])).passed
    assert not run_program(checking_program(bad, bad.gold_steps[0])).passed
