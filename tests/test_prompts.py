"""Prompt loading: a prompt's parts as blocks of one file (synth/prompts/refine.j2) or as files of
their own (the older prompts), read the same way; and every prompt renders exactly the text it
rendered before the refine prompt moved into one file (the response cache keys on the rendered
request, so a changed byte would ask every model again)."""

from __future__ import annotations

import hashlib
import json
from types import SimpleNamespace as NS

import pytest

from synth import prompts
from synth.prompts import chat, render

_V = [NS(step=0, correct=True, explanation=" fine "), NS(step=1, correct=False, explanation="wrong")]
_ERR = {"name": "question_value", "description": "D", "example": "E"}

# (chat or render, prompt, values, sha256 of what the loader before the move rendered)
RENDERED_BEFORE = [
    ("chat", "critique_code", dict(code="def f(): pass", problem="P"),
     "c6485d2fb64a3df2a5eb52cebcfac32918869dae2e3c26cf084e5071ae5b3985"),
    ("render", "critique_code_input", dict(code="def f(): pass", problem="P"),
     "e455a5757828cb7e2a200fc5fc6e3d456302757f02c23e4411b2fcd3a55f27d4"),
    ("render", "critique_code_instruction", {}, "ba34ca0be50975406fee8e28110a1d1235f0b83a5c19393f8a9a5a82e1ccde34"),
    ("render", "critique_input", dict(problem="P", steps=["a", "b"]),
     "a0a66b0c19e9c8e5ad06051936d6d18812ff5c771580ef875d66c1328a28da27"),
    ("render", "critique_sft_instruction", {}, "0b1e3b61bf281adfc87eff9f7f4a35b1c3d8500c06e8706950f1a868786341db"),
    ("chat", "critique_steps", dict(hint="", solution="S", steps=["a", "b"]),
     "25990df80bc31230e959b302fafa84a2efae6317bb1874981507e713b98a62d5"),
    ("chat", "critique_steps", dict(hint="H", solution="S", steps=["a"]),
     "2f648d2e02b8bf107c340e17a940cdb4cf17295e445d56cb3ece9b4447f269d0"),
    ("render", "critique_text", dict(verdicts=_V, final_correct=False, first_error=1),
     "8bbe0866fe10fd4d26fd59ec5759d2cbe5c602826fa508f6eea5b294a9e82b8f"),
    ("render", "critique_text", dict(verdicts=_V[:1], final_correct=True, first_error=-1),
     "aac3f418efb211f4c22970492c8a3f80df6b2a84c5fc20d39eca915f29f1c374"),
    ("chat", "inject_error", dict(error=_ERR, solution="S"),
     "a71c0d19cbb14500fe99d66216c881d0d7dd5e80021915c728ef9710e0dcffe0"),
    ("chat", "judge_pairwise", dict(first="A", instruction="I", reference="", second="B"),
     "fc20a8cbf5841ce4a38890bcecb0684c10d5d57ef1fbba5b9588b7e754463c19"),
    ("chat", "judge_pairwise", dict(first="A", instruction="I", reference="R", second="B"),
     "82bd2ea9154bd252fab3b469d9a8548b3c541b68aeb63b2adb4db5a3551e1124"),
    ("chat", "judge_rating", dict(aspect="honesty", instruction="I", reference="", response="X"),
     "2cbe4081ad21923b20bea2b9412489545f97dd77312c830a60eda4a44643c5f7"),
    ("chat", "judge_rating", dict(aspect="helpfulness", instruction="I", reference="R", response="X"),
     "4fe64f60d75d3a5d3914677b8115c42a3064cbbb29e633f3c06a897a706abe10"),
    ("chat", "refine", dict(code=False, critique="", problem="P", solution="S"),
     "0e2ba5d8019e010bbf5e82ef28a54da74963e96fa356360d52ee82e5e27215df"),
    ("chat", "refine", dict(code=False, critique="C", problem="P", solution="S"),
     "25ee0b1a2d8b9c396b8ffa8fdee85859a84060264bede9b27a8fb02afcff04b0"),
    ("chat", "refine", dict(code=True, critique="", problem="P", solution="S"),
     "b16f18afd25a5ef43a21f9027e3b7156ac08ab75aa6df143af7573e40098f8fb"),
    ("chat", "refine", dict(code=True, critique="C", problem="P", solution="S"),
     "8fa9a979513c748523b0b3d697ab900b7dbf6a4c07cf66df3b83293fadfdc499"),
    ("render", "refine.instruction", {}, "7b44ab95f3a03c8d66fd5949d11c2a2332d607443385ebe41a694a9f7674f1ec"),
    ("chat", "respond", dict(problem="P"), "989bfa4f20dfacaa9561002145ec0ec47c1111e8e368ea4f8de8c08dd43d2f65"),
    ("chat", "solve_code", dict(problem="P"), "9f66aeb32261b5d1402cffdd7e2bc3c3c55cd793f294161146361812956ce5da"),
    ("chat", "solve_math", dict(problem="P"), "e36108b0b290ad55a8e43d5f269300c65a8f36320106202ef0840efe3534dd7d"),
]


def _rendered(how: str, name: str, values: dict) -> str:
    if how == "chat":
        return json.dumps([(m.role, m.content) for m in chat(name, **values)])
    return render(name, **values)


def test_every_prompt_renders_what_it_rendered_before():
    got = [hashlib.sha256(_rendered(how, name, values).encode()).hexdigest()
           for how, name, values, _ in RENDERED_BEFORE]
    changed = [f"{how} {name} {values}" for (how, name, values, want), sha in zip(RENDERED_BEFORE, got) if sha != want]
    assert changed == []


def test_parts_are_blocks_first_then_files():
    # refine.j2 holds its parts as blocks; the older prompts keep a file per part.
    assert prompts._locate("refine") == ("refine.j2", "user")
    assert prompts._locate("refine.system") == ("refine.j2", "system")
    assert prompts._locate("refine.instruction") == ("refine.j2", "instruction")
    assert prompts._locate("solve_math") == ("solve_math.j2", None)
    assert prompts._locate("solve_math.system") == ("solve_math.system.j2", None)
    assert not (prompts._DIR / "refine.system.j2").exists() and not (prompts._DIR / "refine_instruction.j2").exists()
    roles = [m.role for m in chat("refine", code=False, critique="", problem="P", solution="S")]
    assert roles == ["system", "user"]
    assert [m.role for m in chat("critique_code", code="c", problem="p")] == ["system", "user"]
    assert [m.role for m in chat("critique_sft_instruction")] == ["user"]  # no system part: none sent
    for name in ("refine", "refine.system", "refine.instruction", "solve_math", "solve_math.system"):
        assert prompts.exists(name), name
    for name in ("refine.sytem", "refine_instruction", "solve_math.instruction", "nope"):
        assert not prompts.exists(name), name
    with pytest.raises(KeyError, match=r"refine.j2 has no \{% block sytem %\} \(it has instruction, system, user\)"):
        render("refine.sytem")
    # A block is rendered alone: the user part never carries the other parts' text.
    user = render("refine", code=False, critique="C", problem="P", solution="S")
    assert render("refine.instruction") not in user and render("refine.system") not in user
