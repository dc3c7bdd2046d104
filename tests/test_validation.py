import pandas as pd

from synth.pipeline import validate_table


def _pairs(n=3):
    msg = lambda role, text: [{"role": role, "content": text}]  # noqa: E731
    return pd.DataFrame({
        "pair_id": [f"p{i}" for i in range(n)], "seed_id": ["s"] * n, "prompt": [msg("user", "q")] * n,
        "chosen": [msg("assistant", f"good {i}") for i in range(n)],
        "rejected": [msg("assistant", f"bad {i}") for i in range(n)],
        "chosen_solution_id": [f"c{i}" for i in range(n)], "rejected_solution_id": [f"r{i}" for i in range(n)],
        "method": ["verified"] * n, "chosen_model": ["m"] * n, "rejected_model": ["m"] * n,
        "score_chosen": [1.0] * n, "score_rejected": [0.0] * n, "chosen_ratings": [[]] * n,
        "rejected_ratings": [[]] * n, "verdicts": [[]] * n,
        "chosen_answer": ["1"] * n, "rejected_answer": [None] * n, "gold_answer": ["1"] * n,
        "chosen_length": [6] * n, "rejected_length": [5] * n,
    })


def test_good_pairs_pass():
    r = validate_table("pairs", _pairs())
    assert r.success and r.failed == 0 and r.evaluated >= 10


def test_failures_are_summarized(tmp_path):
    df = _pairs()
    df.loc[1, "rejected"] = df.loc[1, "chosen"]  # identical texts
    df.loc[2, "pair_id"] = "p0"                    # duplicate id
    r = validate_table("pairs", df, min_rows=10, docs_dir=tmp_path / "docs")
    assert not r.success and r.failed == 3
    assert "expect_column_values_to_be_unique(column=pair_id): 2 unexpected" in r.summary
    assert "expect_table_row_count_to_be_between(min_value=10" in r.summary and "observed 3" in r.summary
    assert "same_text" in r.summary
    assert (tmp_path / "docs" / "index.html").is_file()  # GX Data Docs


def test_a_kinds_suites_are_one_file_and_gate_its_tables():
    """refine's three tables have their suites in validation/suites/refinement.json; the gate is the
    same as a file per table: a self-correction row without its corrected solution fails."""
    from validation.gx_suite import SUITES, suite_file

    assert {suite_file(t) for t in ("refinements", "refine_sft", "critique_pairs")} == {SUITES / "refinement.json"}
    good = pd.DataFrame({"instruction": ["i"], "input": ["x"], "output": ["c\n\nCorrected solution:\nS"],
                         "seed_id": ["s"]})
    assert validate_table("refine_sft", good).success
    r = validate_table("refine_sft", good.assign(output=["c"]))
    assert not r.success and r.suite == "synth.refine_sft" and "expect_column_values_to_match_regex" in r.summary


def test_a_suite_file_that_cannot_work_names_itself(tmp_path):
    import json

    import pytest

    from validation.gx_suite import SuiteFileError, suite_index

    kind = {"suites": [{"name": "synth.t", "meta": {"table": "t"}, "expectations": []}]}
    (tmp_path / "kind.json").write_text(json.dumps(kind))
    assert set(suite_index(tmp_path)) == {"t"}
    (tmp_path / "t.json").write_text(json.dumps({"name": "synth.t", "expectations": []}))
    with pytest.raises(SuiteFileError, match="GX suites for table 't' in two places: .*kind.json and .*t.json"):
        suite_index(tmp_path)
    (tmp_path / "t.json").unlink()
    kind["suites"].append({"name": "synth.u", "expectations": []})
    (tmp_path / "kind.json").write_text(json.dumps(kind))
    with pytest.raises(SuiteFileError, match="kind.json: suite 2 of its \"suites\" names no table"):
        suite_index(tmp_path)
    (tmp_path / "kind.json").write_text("{")
    with pytest.raises(SuiteFileError, match="kind.json is not valid JSON"):
        suite_index(tmp_path)
