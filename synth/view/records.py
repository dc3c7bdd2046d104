"""How each kind of record is shown: the stored row turned into what a reader needs side by side
(steps with the first error, a critique against the labels, chosen against rejected, code against
its test result). One function per record table; anything else is shown field by field."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from synth.exports import STEP_TAG


@dataclass
class StepRow:
    """One line of a steps view: the step in the labelled solution and, where there is one, the
    original step it corresponds to."""

    index: Optional[int]  # 0-based in the labelled (corrupted) steps; None for an original step that was removed
    text: str
    original: Optional[str] = None
    state: str = "ok"  # ok | first-error | after-error | removed | unknown
    changed: bool = False
    note: str = ""


@dataclass
class RecordView:
    template: str  # the macro in record.html that draws it
    title: str
    data: dict[str, Any] = field(default_factory=dict)


def step_state(i: int, first_error: int) -> str:
    if first_error < 0 or i < first_error:
        return "ok"
    return "first-error" if i == first_error else "after-error"


def aligned_steps(original: list[str], corrupted: list[str], first_error: int) -> list[StepRow]:
    """Original and corrupted steps side by side, matched so that a removed step does not shift the
    rest (the same alignment idea as the label checks)."""
    rows: list[StepRow] = []
    sm = difflib.SequenceMatcher(a=original, b=corrupted, autojunk=False)
    for op, a0, a1, b0, b1 in sm.get_opcodes():
        if op == "equal":
            rows += [StepRow(b0 + k, corrupted[b0 + k], original[a0 + k], step_state(b0 + k, first_error))
                     for k in range(a1 - a0)]
            continue
        for k in range(max(a1 - a0, b1 - b0)):
            a = original[a0 + k] if a0 + k < a1 else None
            if b0 + k < b1:
                rows.append(StepRow(b0 + k, corrupted[b0 + k], a, step_state(b0 + k, first_error), changed=True))
            else:
                rows.append(StepRow(None, "", a, "removed", changed=True, note="step removed"))
    return rows


def labelled_steps(steps: list[str], first_error: int, notes: Optional[list[str]] = None) -> list[StepRow]:
    return [StepRow(i, s, None, step_state(i, first_error), note=(notes[i] if notes else ""))
            for i, s in enumerate(steps)]


def _injection(r: dict[str, Any]) -> RecordView:
    k = r["first_error_step"]
    return RecordView("steps", f"{r['error_type']} error at step {k + 1}", {
        "problem": r["problem"], "steps": aligned_steps(r["original_steps"], r["corrupted_steps"], k),
        "side_by_side": True, "first_error": k,
        "facts": [("error type", r["error_type"]), ("method", r["method"]), ("source", r["source_model"]),
                  ("what changed", r["detail"]), ("original answer", r["original_answer"]),
                  ("corrupted answer", r["corrupted_answer"]), ("gold answer", r["gold_answer"]),
                  ("teacher's claimed step", r.get("claimed_error_step"))]})


def _processbench(r: dict[str, Any]) -> RecordView:
    k = r["label"]
    return RecordView("steps", "no wrong step" if k < 0 else f"first wrong step: {k + 1}", {
        "problem": r["problem"], "steps": labelled_steps(r["steps"], k), "side_by_side": False, "first_error": k,
        "facts": [("final answer correct", r["final_answer_correct"]), ("generator", r["generator"])]})


def _mc_labels(r: dict[str, Any]) -> RecordView:
    k = r["first_error_step"]
    notes = [f"{c}/{r['rollouts']} rollouts reach gold (soft {s:.2f})"
             for c, s in zip(r["correct_rollouts"], r["soft_labels"])]
    return RecordView("steps", "no wrong step" if k < 0 else f"first wrong step: {k + 1}", {
        "problem": r["problem"], "steps": labelled_steps(r["steps"], k, notes), "side_by_side": False,
        "first_error": k, "facts": [("final answer correct", r["final_answer_correct"]), ("model", r["model"]),
                                    ("completer", r["completer"]), ("gold answer", r["gold_answer"])]})


def _prm_stepwise(r: dict[str, Any]) -> RecordView:
    labels = r["labels"]
    k = next((i for i, ok in enumerate(labels) if not ok), -1)
    rows = [StepRow(i, s, None, "ok" if ok else ("first-error" if i == k else "after-error"))
            for i, (s, ok) in enumerate(zip(r["completions"], labels))]
    return RecordView("steps", "no wrong step" if k < 0 else f"first wrong step: {k + 1}",
                      {"problem": r["prompt"], "steps": rows, "side_by_side": False, "first_error": k, "facts": []})


def _math_shepherd(r: dict[str, Any]) -> RecordView:
    parts = [p.strip() for p in r["input"].split(STEP_TAG)][:-1]
    tags = []
    label = r["label"]
    for p in parts:  # the label text is the input with "+" or "-" where each tag is
        label = label[len(p):].lstrip() if label.startswith(p) else label
        tags.append(label[:1])
        label = label[1:]
    k = next((i for i, t in enumerate(tags) if t == "-"), -1)
    rows = [StepRow(i, p, None, "ok" if t == "+" else ("first-error" if i == k else "after-error"))
            for i, (p, t) in enumerate(zip(parts, tags))]
    return RecordView("steps", "no wrong step" if k < 0 else f"first wrong step: {k + 1}",
                      {"problem": "", "steps": rows, "side_by_side": False, "first_error": k,
                       "facts": [("task", r["task"])]})


def _critique(r: dict[str, Any]) -> RecordView:
    k = r["true_first_error_step"]
    verdicts = {v["step"]: v for v in r["step_verdicts"]}
    rows = []
    for i, s in enumerate(r["steps"]):
        truth = step_state(i, k)
        v = verdicts.get(i)
        critic = None if v is None else ("correct" if v["correct"] else "incorrect")
        agrees = None if v is None or truth == "after-error" else (v["correct"] == (truth == "ok"))
        rows.append({"index": i, "text": s, "truth": truth, "critic": critic,
                     "explanation": v["explanation"] if v else "", "agrees": agrees})
    return RecordView("critique", f"critique by {r['critic_model']}", {
        "problem": r["problem"], "rows": rows, "critique": r["critique"],
        "final": [("true first wrong step", "none" if k < 0 else k + 1),
                  ("critic's first wrong step", "none" if r["first_error_step"] < 0 else r["first_error_step"] + 1),
                  ("final answer correct (truth)", r["true_final_answer_correct"]),
                  ("final answer correct (critic)", r["final_answer_correct"]),
                  ("label source", r["label_source"]), ("error type", r["error_type"]),
                  ("critic told the error", r["hint_given"])]})


def _messages_text(messages: list[dict[str, Any]]) -> str:
    return "\n\n".join(m["content"] for m in messages if m["role"] == "assistant") or \
        "\n\n".join(m["content"] for m in messages)


def _ratings(ratings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"aspect": x["aspect"], "judge": x["judge"], "rating": x["rating"], "rationale": x["rationale"]}
            for x in ratings]


def _pair(r: dict[str, Any]) -> RecordView:
    who = {r["chosen_solution_id"]: "chosen", r["rejected_solution_id"]: "rejected"}
    verdicts = [{"judge": v["judge"], "order": f"{who.get(v['first_id'], v['first_id'])} shown first",
                 "winner": who.get(v["winner_id"], v["winner_id"]), "position": v["winner_position"],
                 "rationale": v["rationale"]} for v in r["verdicts"]]
    sides = [{"name": name, "text": _messages_text(r[name]), "model": r[f"{name}_model"],
              "score": r[f"score_{name}"], "answer": r[f"{name}_answer"], "length": r[f"{name}_length"],
              "ratings": _ratings(r[f"{name}_ratings"])} for name in ("chosen", "rejected")]
    return RecordView("pair", f"{r['method']} pair", {
        "prompt": _messages_text([m for m in r["prompt"] if m["role"] == "user"] or r["prompt"]),
        "sides": sides, "verdicts": verdicts, "gold": r["gold_answer"], "method": r["method"]})


def _dpo(r: dict[str, Any]) -> RecordView:
    sides = [{"name": name, "text": _messages_text(r[name]), "model": "", "score": None, "answer": None,
              "length": len(_messages_text(r[name])), "ratings": []} for name in ("chosen", "rejected")]
    return RecordView("pair", "preference pair (TRL format)", {
        "prompt": _messages_text(r["prompt"]), "sides": sides, "verdicts": [], "gold": None, "method": "dpo"})


def code_lines(code: str, marked: set[int]) -> list[tuple[int, str, bool]]:
    return [(i, line, i in marked) for i, line in enumerate(code.splitlines(), start=1)]


def _failing_line(code: str, detail: str) -> set[int]:
    """Lines of the program named by the test result (`line N`), where it names one."""
    import re

    return {int(n) for n in re.findall(r"line (\d+)", detail or "") if int(n) <= len(code.splitlines())}


def _code_injection(r: dict[str, Any]) -> RecordView:
    changed = set(range(r["changed_start"], r["changed_end"] + 1))
    return RecordView("code", f"{r['error_type']} bug ({r['category']})", {
        "problem": r["problem"], "original": code_lines(r["original_code"], set()),
        "code": code_lines(r["corrupted_code"], changed | _failing_line(r["corrupted_code"], r["test_error_line"])),
        "result": "tests fail", "passed": False, "error_type": r["test_error_type"],
        "failing_line": r["test_error_line"],
        "facts": [("what changed", r["detail"]), ("changed lines", f"{r['changed_start']}-{r['changed_end']}"),
                  ("entry point", r["entry_point"]), ("source", r["source_model"])]})


def _code_critique(r: dict[str, Any]) -> RecordView:
    return RecordView("code", f"critique by {r['critic_model']}", {
        "problem": r["problem"], "original": None, "code": code_lines(r["code"], set()),
        "result": "tests pass" if r["passes_tests"] else "tests fail", "passed": r["passes_tests"],
        "error_type": r["error_type"] or "", "failing_line": "", "critique": r["critique"],
        "facts": [("critic's verdict", "correct" if r["verdict"] else "incorrect"),
                  ("agrees with the tests", r["verdict"] == r["passes_tests"]), ("label source", r["label_source"])]})


def _solution(r: dict[str, Any]) -> RecordView:
    if r.get("error_type") is not None or r["problem"].lstrip().startswith(("def ", "from ", "import ")):
        code = r["text"]
        return RecordView("code", f"solution by {r['model']}", {
            "problem": r["problem"], "original": None, "code": code_lines(code, _failing_line(code, r["error_detail"])),
            "result": "tests pass" if r["is_correct"] else "tests fail", "passed": r["is_correct"],
            "error_type": r["error_type"] or "", "failing_line": r["error_detail"],
            "facts": [("answer status", r["answer_status"]), ("finish reason", r["finish_reason"])]})
    return RecordView("steps", f"{r['answer_status']} solution by {r['model']}", {
        "problem": r["problem"], "steps": labelled_steps(r["steps"], -1), "side_by_side": False, "first_error": -1,
        "facts": [("answer status", r["answer_status"]), ("extracted answer", r["extracted_answer"]),
                  ("gold answer", r["gold_answer"]), ("finish reason", r["finish_reason"]),
                  ("tokens", f"{r['prompt_tokens']} prompt, {r['completion_tokens']} completion")]})


VIEWS: dict[str, Callable[[dict[str, Any]], RecordView]] = {
    "injections": _injection, "processbench": _processbench, "mc_labels": _mc_labels,
    "prm_stepwise": _prm_stepwise, "math_shepherd": _math_shepherd, "critiques": _critique, "pairs": _pair,
    "dpo": _dpo, "code_injections": _code_injection, "code_critiques": _code_critique, "solutions": _solution,
}


def view_of(table: str, row: dict[str, Any]) -> RecordView:
    make = VIEWS.get(table)
    fields = [(k, v if isinstance(v, (str, int, float, bool)) or v is None else json.dumps(v, indent=1, default=str))
              for k, v in row.items()]
    if make is None:
        return RecordView("fields", table, {"fields": fields})
    v = make(row)
    v.data["fields"] = fields
    return v


def cell(value: Any, width: int = 140) -> str:
    """A table cell: the value as text, cut to a width (the record page shows it whole)."""
    if isinstance(value, (list, dict)):
        text = json.dumps(value, default=str, ensure_ascii=False)
    else:
        text = "" if value is None else str(value)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
