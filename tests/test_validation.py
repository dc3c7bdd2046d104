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
