"""The derived columns the GX suites (validation/suites/) read: relations between columns, list
lengths, labels recomputed from the rows. Each table's release (synth/stages/) names its function,
and synth.pipeline.validate_table runs the table's suite with it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where a frame is read: a worker that only injects needs no pandas (45 MB)
    import pandas as pd


def injections(df: pd.DataFrame) -> pd.DataFrame:
    from synth.answers import answers_match
    from synth.inject.steps import first_change

    def first(o, c):
        change = first_change(list(o), list(c))
        return change.corrupted if change else -1

    return df.assign(
        label_in_range=[0 <= k < len(c) for k, c in zip(df["first_error_step"], df["corrupted_steps"])],
        label_is_first_change=[first(o, c) == k for o, c, k in
                               zip(df["original_steps"], df["corrupted_steps"], df["first_error_step"])],
        answer_differs=[not answers_match(a, g) for a, g in zip(df["corrupted_answer"], df["gold_answer"])],
    )


def _mc_consistent(row) -> bool:
    """The labels are what the counts say, under one rule: a step is good when it and every step
    before it reached the answer and wrote no false computation."""
    from synth.inject.steps import wrong_calc_steps

    n, counts, scored = row["rollouts"], list(row["correct_rollouts"]), list(row["scored_rollouts"])
    hard, soft = list(row["hard_labels"]), list(row["soft_labels"])
    first = next((i for i, ok in enumerate(hard) if not ok), -1)
    wrong = set(wrong_calc_steps(list(row["steps"])))
    expected, ok = [], True
    for i, c in enumerate(counts):
        ok = ok and c > 0 and i not in wrong
        expected.append(ok)
    return (all(0 <= c <= k <= n and k > 0 for c, k in zip(counts, scored))
            and all(abs(s - c / k) < 1e-9 for s, c, k in zip(soft, counts, scored))
            and hard == expected and row["first_error_step"] == first)


def processbench(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(
        label_in_range=[-1 <= k < len(s) for k, s in zip(df["label"], df["steps"])],
        n_steps=df["steps"].map(len),
        no_error=df["label"].eq(-1).astype(float),
        duplicate=_duplicated([(p, tuple(s)) for p, s in zip(df["problem"], df["steps"])]),
    )


def math_shepherd(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(
        tags_match=[i.count(" ки") == len(re.findall(r" [+-](?=\n|$)", lab)) for i, lab in zip(df["input"], df["label"])],
    )


def prm_stepwise(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(
        labels_match_steps=[len(lab) == len(c) >= 1 for lab, c in zip(df["labels"], df["completions"])],
    )


def mc_labels(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(
        lengths_agree=[len(s) == len(c) == len(k) == len(so) == len(h) for s, c, k, so, h in
                       zip(df["steps"], df["correct_rollouts"], df["scored_rollouts"], df["soft_labels"],
                           df["hard_labels"])],
        labels_consistent=[_mc_consistent(r) for _, r in df.iterrows()],
    )


def critiques(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(
        verdicts_match_steps=[[v["step"] for v in vs] == list(range(len(s))) for vs, s in
                              zip(df["step_verdicts"], df["steps"])],
        agrees=(df["first_error_step"].eq(df["true_first_error_step"])
                & df["final_answer_correct"].eq(df["true_final_answer_correct"])),
    )


def solutions(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(
        n_steps=df["steps"].map(len),
        status_is_correct=df["answer_status"].eq("correct"),
        no_answer=df["answer_status"].eq("no_answer").astype(float),
    )


def pairs(df: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    return df.assign(
        same_solution=df["chosen_solution_id"].eq(df["rejected_solution_id"]),
        same_text=[c[-1]["content"] == r[-1]["content"] for c, r in zip(df["chosen"], df["rejected"])],
        prompt_ends_with_user=df["prompt"].map(lambda m: len(m) > 0 and m[-1]["role"] == "user"),
        responses_are_assistant=[_single_assistant(c) and _single_assistant(r) for c, r in zip(df["chosen"], df["rejected"])],
        evidence_matches_method=[_pair_evidence(r) for _, r in df.iterrows()],
        ratings_in_range=[all(x["rating"] in (1, 2, 3, 4, 5) for x in [*c, *r])
                          for c, r in zip(df["chosen_ratings"], df["rejected_ratings"])],
        chosen_scores_higher=[pd.isna(c) or pd.isna(r) or c > r for c, r in zip(df["score_chosen"], df["score_rejected"])],
        chosen_work_holds=[_chosen_work_holds(r) for _, r in df.iterrows()],
    )


def dpo(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(
        prompt_ends_with_user=df["prompt"].map(lambda m: len(m) > 0 and m[-1]["role"] == "user"),
        responses_are_assistant=[_single_assistant(c) and _single_assistant(r) for c, r in zip(df["chosen"], df["rejected"])],
        same_text=[c[-1]["content"] == r[-1]["content"] for c, r in zip(df["chosen"], df["rejected"])],
        duplicate=_duplicated([(_text(p), _text(c), _text(r)) for p, c, r in zip(df["prompt"], df["chosen"], df["rejected"])]),
    )


def ratings(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(
        ratings_in_range=df["ratings"].map(lambda rs: len(rs) > 0 and all(r["rating"] in (1, 2, 3, 4, 5) for r in rs)),
        scores_are_means=[_scores_are_means(r) for _, r in df.iterrows()],
        rationales_present=df["ratings"].map(lambda rs: all(r["rationale"].strip() for r in rs)),
        one_rating_per_judge_aspect=df["ratings"].map(_one_per_judge_aspect),
    )


def comparisons(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(
        both_orders=[_both_orders(r) for _, r in df.iterrows()],
        verdicts_agree=[all(v["winner_id"] == r["winner_id"]
                            and v["winner_id"] == (v["first_id"] if v["winner_position"] == "A" else v["second_id"])
                            for v in r["verdicts"]) for _, r in df.iterrows()],
        winner_is_a_or_b=[{w, lo} == {a, b} for w, lo, a, b in zip(df["winner_id"], df["loser_id"], df["a_id"], df["b_id"])],
    )


def code_injections(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(
        category_matches_type=[_code_category(t) == c for t, c in zip(df["error_type"], df["category"])],
        code_changed=df["original_code"].ne(df["corrupted_code"]),
        span_in_code=[a <= b <= max(len(c.splitlines()), 1) for a, b, c in
                      zip(df["changed_start"], df["changed_end"], df["corrupted_code"])],
    )


def code_critiques(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(
        agrees=df["verdict"].eq(df["passes_tests"]),
        has_conclusion=[_verdict(c) == v for c, v in zip(df["critique"], df["verdict"])],
    )


def ultrafeedback(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(
        models_match=[list(m) == [c["model"] for c in cs] for m, cs in zip(df["models"], df["completions"])],
        ratings_valid=df["completions"].map(lambda cs: all(_uf_completion_valid(c) for c in cs)),
        n_completions=df["completions"].map(len),
    )


def _code_category(error_type: str) -> str:
    from synth.inject.code_ops import CODE_ERROR_TYPES

    return CODE_ERROR_TYPES.get(error_type, "")


def _verdict(critique: str):
    from synth.code import verdict_of

    return verdict_of(critique)


def _text(messages) -> str:
    return "\n".join(m["content"] for m in messages)


def _duplicated(keys: list) -> list[float]:
    seen: set = set()
    out = []
    for k in keys:
        out.append(float(k in seen))
        seen.add(k)
    return out


def _single_assistant(messages) -> bool:
    return len(messages) == 1 and messages[0]["role"] == "assistant" and bool(messages[0]["content"].strip())


def _chosen_work_holds(row) -> bool:
    from synth.answers import answers_match
    from synth.process import false_computations
    import pandas as pd

    def text(v):
        return None if v is None or (isinstance(v, float) and pd.isna(v)) else str(v)

    gold = text(row["gold_answer"])
    if row["method"] != "verified" or not gold:
        return True
    return (answers_match(text(row["chosen_answer"]), gold) and not answers_match(text(row["rejected_answer"]), gold)
            and not false_computations(row["chosen"][-1]["content"]))


def _pair_evidence(row) -> bool:
    import pandas as pd

    ratings, verdicts = len(row["chosen_ratings"]) + len(row["rejected_ratings"]), list(row["verdicts"])
    if row["method"] == "verified":
        return (not ratings and not verdicts and row["chosen_answer"] is not None
                and row["score_chosen"] == 1.0 and row["score_rejected"] == 0.0)
    if row["method"] == "ratings":
        return (len(row["chosen_ratings"]) > 0 and len(row["rejected_ratings"]) > 0 and not verdicts
                and not pd.isna(row["score_chosen"]) and not pd.isna(row["score_rejected"]))
    return (not ratings and len(verdicts) >= 2 and len(verdicts) % 2 == 0
            and all(v["winner_id"] == row["chosen_solution_id"] for v in verdicts))


def _one_per_judge_aspect(ratings) -> bool:
    keys = [(r["judge"], r["aspect"]) for r in ratings]
    judges = {j for j, _ in keys}
    aspects = {j: {a for jj, a in keys if jj == j} for j in judges}
    return len(keys) == len(set(keys)) and len({frozenset(v) for v in aspects.values()}) == 1


def _scores_are_means(row) -> bool:
    by_aspect: dict[str, list[int]] = {}
    for r in row["ratings"]:
        by_aspect.setdefault(r["aspect"], []).append(r["rating"])
    scores = {a: v for a, v in row["aspect_scores"].items() if v is not None}
    means = {a: sum(v) / len(v) for a, v in by_aspect.items()}
    return (set(scores) == set(means) and all(abs(scores[a] - means[a]) < 1e-9 for a in means)
            and abs(row["score"] - sum(means.values()) / len(means)) < 1e-9)


def _both_orders(row) -> bool:
    by_judge: dict[str, list[tuple[str, str]]] = {}
    for v in row["verdicts"]:
        by_judge.setdefault(v["judge"], []).append((v["first_id"], v["second_id"]))
    want = sorted([(row["a_id"], row["b_id"]), (row["b_id"], row["a_id"])])
    return bool(by_judge) and all(sorted(orders) == want for orders in by_judge.values())


def _uf_completion_valid(c) -> bool:
    present = [a for a in c["annotations"].values() if a is not None]
    try:
        ratings = [float(a["Rating"]) for a in present]
    except ValueError:
        return False
    return (bool(present) and all(1 <= r <= 5 and a["Rationale"].strip() for r, a in zip(ratings, present))
            and abs(c["fine-grained_score"] - sum(ratings) / len(ratings)) < 1e-4)  # Rating is written with %g
