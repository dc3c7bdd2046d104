"""The viewer (synth/view/) in a real browser: Debian's chromium driven by Playwright loads each page
of built versions, checks what a person would see, submits reviews and checks they landed in the
catalog; then `synth review apply` makes a new version from the reviews.

The versions are made without a model: the error-injection version by the real pipeline steps
(procedural seeds, rule-made errors); the critique, preference and code versions by the project's own
record types, writers (`pipeline.write_step`), GX suites and registration (`pipeline.register_step`),
with records written as a critic, judge or bug injector would have written them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from catalog import Catalog
from schemas import (ChatMessage, CodeInjection, Critique, PairwiseVerdict, PreferencePair, StepVerdict)
from synth import exports, pipeline
from synth.stages.base import StageReport
from synth.stages.critique import render_critique
from synth.view.data import record_hash
from tests.conftest import REPO

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(os.environ.get("SYNTH_VIEW_SHOTS", "/tmp/synth-view-screenshots"))
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]

INJECT_RECIPE = """\
name: view-injected
kind: error_injection
description: Procedural problems with one rule-made error each (model-free), for the viewer's tests.
random_seed: 5
seeds: {{type: procedural, count: {count}, random_seed: 3, min_steps: 2, max_steps: 4}}
stages:
  inject:
    sources: [gold]
    error_types: [calculation, operator, missing_step]
    max_per_source: 1
    include_originals: true
"""

MODEL = """\
models:
  {role}:
    model: embedded:smollm2-135m-instruct
"""

CRITIQUE_RECIPE = """\
name: view-critiques
kind: critique
description: Step-wise critiques of injected-error solutions, for the viewer's tests.
random_seed: 5
seeds: {type: procedural, count: 4, random_seed: 3, min_steps: 2, max_steps: 4}
""" + MODEL.format(role="critic") + """\
stages:
  inject:
    sources: [gold]
    error_types: [calculation]
    max_per_source: 1
    include_originals: true
  critique:
    model: critic
"""

PAIRS_RECIPE = """\
name: view-pairs
kind: preference
description: Pairs judged in both orders, for the viewer's tests.
random_seed: 5
seeds: {type: procedural, count: 3, random_seed: 3, min_steps: 1, max_steps: 2}
""" + MODEL.format(role="judge") + """\
stages:
  generate:
    models: [judge]
    n: 2
  judge:
    models: [judge]
    mode: pairwise
  pair:
    method: pairwise
"""

CODE_RECIPE = """\
name: view-code
kind: error_injection
description: A typed bug in a passing program, for the viewer's tests.
random_seed: 5
seeds: {{type: file, path: {path}, format: humaneval, limit: 2}}
stages:
  code_inject:
    sources: [gold]
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _context(folder: Path, data: Path, name: str, text: str) -> pipeline.BuildContext:
    path = folder / f"{name}.yaml"
    path.write_text(text)
    return pipeline.start_build(path, data, progress=False, use_cache=False)


def _build_model_free(folder: Path, data: Path, name: str, text: str):
    """Every stage of a model-free recipe, written, validated and registered as a build does."""
    ctx = _context(folder, data, name, text)
    t = pipeline.Tables()
    for stage in ctx.recipe.stage_names():
        t = pipeline.run_stage(ctx, stage, t)
    files = pipeline.write_step(ctx, pipeline.output_tables(ctx, t))
    validations = pipeline.validate_step(ctx, files)
    return pipeline.register_step(ctx, files, t.reports, t.usage, validations), t


def _register_written(ctx: pipeline.BuildContext, tables: dict, reports: list[StageReport]):
    files = pipeline.write_step(ctx, tables)
    validations = pipeline.validate_step(ctx, files)
    return pipeline.register_step(ctx, files, reports, [], validations)


def _critiques(folder: Path, data: Path):
    """Real injected-error labels (the model-free stages), critiqued as a critic agreeing with them would."""
    ctx = _context(folder, data, "view-critiques", CRITIQUE_RECIPE)
    t = pipeline.run_stage(ctx, "seeds", pipeline.Tables())
    t = pipeline.run_stage(ctx, "inject", t)
    crits = []
    for s in t.labelled:
        k = s.first_error_step
        verdicts = [StepVerdict(i, k < 0 or i < k, "The arithmetic holds." if k < 0 or i < k
                                else "This computation is wrong.") for i in range(len(s.steps))]
        crits.append(Critique(
            critique_id=f"crit-{s.label_id}", target_id=s.label_id, seed_id=s.seed_id, problem=s.problem,
            steps=list(s.steps), label_source=s.label_source, error_type=s.error_type, true_first_error_step=k,
            true_final_answer_correct=s.final_answer_correct, critic_model="test-critic", sample_index=0,
            hint_given=False, step_verdicts=verdicts, first_error_step=k, final_answer_correct=s.final_answer_correct,
            critique=render_critique(verdicts, s.final_answer_correct)))  # as the critique stage renders it
    report = StageReport("critique", "labelled", "critiques", n_in=len(crits), n_out=len(crits))
    tables = {"seeds": t.seeds, "critiques": crits, "critique_sft": [exports.to_critique_sft(c) for c in crits],
              "rejects": []}
    return _register_written(ctx, tables, t.reports + [report]), crits


def _pairs(folder: Path, data: Path):
    ctx = _context(folder, data, "view-pairs", PAIRS_RECIPE)
    t = pipeline.run_stage(ctx, "seeds", pipeline.Tables())
    pairs = []
    for i, s in enumerate(t.seeds):
        good, bad = f"{s.seed_id}-s0", f"{s.seed_id}-s1"
        verdicts = [PairwiseVerdict("test-judge", good, bad, "A", good, "A reaches the gold answer step by step."),
                    PairwiseVerdict("test-judge", bad, good, "B", good, "B reaches the gold answer; A does not.")]
        chosen = " ".join(s.gold_steps) + f" The answer is {s.gold_answer}."
        rejected = f"I think it is about {int(float(s.gold_answer)) + 7 + i}. The answer is {int(float(s.gold_answer)) + 7 + i}."
        pairs.append(PreferencePair(
            pair_id=f"pair-{s.seed_id}", seed_id=s.seed_id, method="pairwise",
            prompt=[ChatMessage("user", s.problem)], chosen=[ChatMessage("assistant", chosen)],
            rejected=[ChatMessage("assistant", rejected)], chosen_solution_id=good, rejected_solution_id=bad,
            chosen_model="test-generator", rejected_model="test-generator", score_chosen=None, score_rejected=None,
            chosen_ratings=[], rejected_ratings=[], verdicts=verdicts, chosen_answer=s.gold_answer,
            rejected_answer=str(int(float(s.gold_answer)) + 7 + i), gold_answer=s.gold_answer,
            chosen_length=len(chosen), rejected_length=len(rejected)))
    report = StageReport("pair", "problems", "pairs", n_in=len(t.seeds), n_out=len(pairs))
    tables = {"seeds": t.seeds, "pairs": pairs, "dpo": [exports.to_dpo(p) for p in pairs], "rejects": []}
    return _register_written(ctx, tables, t.reports + [report]), pairs


def _code(folder: Path, data: Path):
    humaneval = REPO / "recipes" / "seeds" / "humaneval" / "HumanEval.jsonl.gz"
    ctx = _context(folder, data, "view-code", CODE_RECIPE.format(path=humaneval))
    t = pipeline.run_stage(ctx, "seeds", pipeline.Tables())
    s = t.seeds[0]
    original = s.gold_steps[0]  # the whole program: prompt and canonical solution
    lines = original.splitlines()
    target = next(i for i, line in enumerate(lines) if " < " in line)
    changed = lines[target].replace(" < ", " >= ", 1)
    corrupted = "\n".join(lines[:target] + [changed] + lines[target + 1:])
    inj = CodeInjection(injection_id=f"{s.seed_id}-logic_error", seed_id=s.seed_id, source_id="gold", source_model="gold",
                        method="rule", error_type="logic_error", category="functional", problem=s.problem,
                        entry_point=s.entry_point or "", original_code=original, corrupted_code=corrupted,
                        changed_start=target + 1, changed_end=target + 1, detail="comparison inverted",
                        test_error_type="AssertionError", test_error_line="assert candidate([1.0, 2.0, 3.0], 0.5) == False")
    report = StageReport("code_inject", "programs", "bugs", n_in=1, n_out=1)
    return _register_written(ctx, {"seeds": t.seeds, "code_injections": [inj], "rejects": []},
                             t.reports + [report]), inj


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("view")
    data = root / "data"
    first, _ = _build_model_free(root, data, "view-injected", INJECT_RECIPE.format(count=6))
    second, t = _build_model_free(root, data, "view-injected", INJECT_RECIPE.format(count=8))
    crit, crits = _critiques(root, data)
    pairs, pair_records = _pairs(root, data)
    code, inj = _code(root, data)
    for v in (first, second, crit, pairs, code):  # what the pages show is valid data, as a build makes it
        assert v.new and v.validation_passed, v
    return {"root": root, "data": data, "catalog": data / "catalog.duckdb", "first": first, "second": second,
            "tables": t, "crit": crit, "crits": crits, "pairs": pairs, "pair_records": pair_records, "code": code,
            "code_inj": inj}


class Server:
    """The app on a free loopback port, in this process (uvicorn in a thread)."""

    def __init__(self, catalog: Path):
        import uvicorn

        from synth.view.app import create_app

        self.port = _free_port()
        self.server = uvicorn.Server(uvicorn.Config(create_app(catalog, "tester"), host="127.0.0.1", port=self.port,
                                                    log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "the viewer did not start"
            time.sleep(0.05)
        self.base = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def _catalog_state(catalog: Path) -> dict:
    """Every catalog table but the reviews, and every view's definition: what the viewer must not change."""
    cat = Catalog(catalog)
    tables = [r["table_name"] for r in cat.query(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' AND table_name <> 'reviews'")]
    state = {t: sorted(json.dumps(r, default=str, sort_keys=True) for r in cat.query(f'SELECT * FROM "{t}"'))
             for t in tables}
    state["views"] = sorted(json.dumps(r, default=str) for r in cat.query(
        "SELECT schema_name, view_name, sql FROM duckdb_views() WHERE NOT internal"))
    return state


def _files_state(data: Path) -> dict[str, str]:
    return {str(p.relative_to(data)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(data.rglob("*")) if p.is_file() and not p.name.startswith("catalog.duckdb")}


def _rows(built, ref_version, table: str) -> list[dict]:
    cat = Catalog(built["catalog"])
    name = ref_version.dataset
    files = cat.query("SELECT path FROM files WHERE dataset = ? AND version = ? AND table_name = ? ORDER BY path",
                      [name, ref_version.version, table])
    return [r for f in files for r in pq.read_table(f["path"]).to_pylist()]


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("chromium is not installed at /usr/bin/chromium, and these tests drive a real browser: "
                    "scripts/install.sh installs it as root with apt-get (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright package is missing: pip install -c constraints.txt -e '.[dev]'")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        yield b
        b.close()


def _shot(page, folder: Path, name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def test_pages_reviews_and_bad_input_in_a_real_browser(built, browser, tmp_path):
    shots = tmp_path / "screenshots"
    before_catalog, before_files = _catalog_state(built["catalog"]), _files_state(built["data"])
    server = Server(built["catalog"])
    page = browser.new_page(viewport={"width": 1360, "height": 900})
    try:
        second = built["second"]
        name, version = second.dataset, second.version
        # the catalog: every dataset and version, with validation and rows
        page.goto(server.base + "/")
        for ds in ("view-injected", "view-critiques", "view-pairs", "view-code"):
            assert page.locator(f"#ds-{ds}").is_visible()
        versions = page.locator("#ds-view-injected + p + table.versions tr")
        assert versions.count() == 3  # header and two versions
        _shot(page, shots, "01-catalog")

        # a version: funnel chart with one bar per funnel row, scaled to the counts, validation and diff
        page.goto(f"{server.base}/d/{name}/{version}")
        info = Catalog(built["catalog"]).version_info(name, version)
        bars = page.locator("#funnel-chart g.funnel-bar")
        assert bars.count() == len(info["funnel"]) > 0
        widths = {}
        for i, f in enumerate(info["funnel"]):
            bar = bars.nth(i)
            assert bar.get_attribute("data-stage") == f["stage"]
            assert (int(bar.get_attribute("data-in")), int(bar.get_attribute("data-out"))) == (f["n_in"], f["n_out"])
            widths[i] = (float(bar.locator("rect").nth(0).get_attribute("width")),
                         float(bar.locator("rect.kept").get_attribute("width")))
        biggest = max(range(len(info["funnel"])), key=lambda i: info["funnel"][i]["n_in"])
        scale = widths[biggest][0] / info["funnel"][biggest]["n_in"]
        for i, f in enumerate(info["funnel"]):  # both bars drawn to one scale
            assert abs(widths[i][1] - scale * f["n_out"]) < 0.2
            assert abs(widths[i][0] - max(1.0, scale * f["n_in"])) < 0.2
        assert page.locator("#validation-badge").inner_text() == "validation passed"
        assert page.locator("#validation tr").count() == 1 + len(info["validations"])
        assert f"{name}@{built['first'].version} → {name}@{version}" in page.locator("main").inner_text()
        _shot(page, shots, "02-version")

        # a config as a paged, filterable table; counts are the catalog's
        pb_rows = _rows(built, second, "processbench")
        page.goto(f"{server.base}/d/{name}/{version}/t/processbench?limit=10")
        assert page.locator("#row-count").inner_text() == f"rows 1–10 of {len(pb_rows)}"
        assert page.locator("#rows tr").count() == 11
        page.click("#next-page")
        assert page.locator("#row-count").inner_text() == f"rows 11–{min(20, len(pb_rows))} of {len(pb_rows)}"
        injections = _rows(built, second, "injections")
        page.goto(f"{server.base}/d/{name}/{version}/t/injections")
        page.select_option("select[name='f.error_type']", "missing_step")
        page.click("#filters button")
        n_missing = sum(r["error_type"] == "missing_step" for r in injections)
        assert page.locator("#row-count").inner_text() == f"rows 1–{n_missing} of {n_missing}"
        assert set(page.locator("#rows tr td:nth-child(7)").all_inner_texts()) == {"missing_step"}
        _shot(page, shots, "03-table-filtered")

        # an injection: the labelled first error highlighted, the original step beside the corrupted one
        inj = next(r for r in injections if r["error_type"] == "calculation")
        page.goto(f"{server.base}/d/{name}/{version}/t/injections/r/{inj['injection_id']}")
        first = page.locator("#steps tr.first-error")
        assert first.count() == 1 and first.get_attribute("data-step") == str(inj["first_error_step"])
        cells = first.locator("td").all_inner_texts()
        assert cells[1] == inj["original_steps"][inj["first_error_step"]]
        assert cells[2] == inj["corrupted_steps"][inj["first_error_step"]] != cells[1]
        red = first.locator("td").nth(2).evaluate("e => getComputedStyle(e).backgroundColor")
        ok_row = page.locator("#steps tr.ok").first.locator("td").nth(2).evaluate("e => getComputedStyle(e).backgroundColor")
        assert red != ok_row  # a person sees it
        _shot(page, shots, "04-injection-record")

        # an export row (no id: opened by its row number) shows its labels the same way, without a review form
        ps = _rows(built, second, "prm_stepwise")
        j = next(i for i, r in enumerate(ps) if not all(r["labels"]))
        page.goto(f"{server.base}/d/{name}/{version}/t/prm_stepwise/r/row-{j}")
        assert page.locator("#steps tr.first-error").get_attribute("data-step") == str(ps[j]["labels"].index(False))
        assert page.locator("#review-form").count() == 0
        page.goto(f"{server.base}/d/{name}/{version}/t/injections/r/{inj['injection_id']}")

        # review: reject it with a reason; it lands in the catalog with who, when and the content hash
        page.check("input[value='rejected']")
        page.select_option("select[name='reason']", "wrong_label")
        page.fill("textarea[name='comment']", "the operator error reads as a typo")
        page.click("#submit-review")
        assert page.locator("#saved").is_visible() and page.locator("#current-review").inner_text() == "rejected"
        cat = Catalog(built["catalog"])
        got = cat.reviews(name, version, "injections", inj["injection_id"])
        assert [(r["decision"], r["reason"], r["reviewer"], r["comment"]) for r in got] == [
            ("rejected", "wrong_label", "tester", "the operator error reads as a typo")]
        assert got[0]["content_sha256"] == record_hash(inj)

        # relabel a ProcessBench row's first wrong step; a value out of range is refused on the page
        target = next(r for r in pb_rows if r["label"] >= 1 and r["id"] != inj["injection_id"])
        page.goto(f"{server.base}/d/{name}/{version}/t/processbench/r/{target['id']}")
        import httpx

        token = page.locator("input[name='token']").get_attribute("value")
        review_url = f"{server.base}/d/{name}/{version}/t/processbench/r/{target['id']}/review"
        crafted = httpx.post(review_url, data={"token": token, "decision": "relabelled", "reviewer": "tester",
                                               "label_field": "first_error_step", "new_value.first_error_step": "99"})
        assert crafted.status_code == 400 and "must be between -1" in crafted.text and "Traceback" not in crafted.text
        assert cat.reviews(name, version, "processbench", target["id"]) == []
        options = page.locator("select[name='new_value.first_error_step'] option").all_inner_texts()
        assert options[0] == "no wrong step" and len(options) == 1 + len(target["steps"])
        assert options[1 + target["label"]].endswith("(automatic label)")
        page.check("input[value='relabelled']")
        page.select_option("select[name='label_field']", "first_error_step")
        page.select_option("select[name='new_value.first_error_step']", str(target["label"] - 1))
        page.click("#submit-review")
        assert page.locator("#current-review").inner_text() == "relabelled"
        r = cat.reviews(name, version, "processbench", target["id"])[-1]
        assert (r["label_field"], json.loads(r["old_value"]), json.loads(r["new_value"])) == (
            "first_error_step", target["label"], target["label"] - 1)
        # going through records one after another from the table page, as a reviewer does
        j = next(i for i, x in enumerate(pb_rows) if i > 0 and x["id"] not in (target["id"], inj["injection_id"]))
        page.goto(f"{server.base}/d/{name}/{version}/t/processbench?limit=100")
        page.locator("#rows a.open").nth(j - 1).click()
        page.click("#next-record")
        assert page.url.split("?")[0].endswith(f"/r/{pb_rows[j]['id']}")
        assert f"record {j + 1} of {len(pb_rows)}" in page.locator("#record-nav").inner_text()
        page.click("#submit-review")  # accept is the default
        assert page.locator("#current-review").inner_text() == "accepted"
        assert f"pos={j}" in page.url and page.locator("#prev-record").is_visible()  # still in the sequence
        page.goto(f"{server.base}/d/{name}/{version}/reviews")
        assert page.locator("#reviews tr").count() == 4
        assert "agreed with the automatic labels on 1 of 3 (33.3%)" in page.locator("#review-summary").inner_text()
        _shot(page, shots, "05-reviews")

        # a critique aligned step by step with the solution and the ground truth
        crit = next(c for c in built["crits"] if c.true_first_error_step >= 1)
        cv = built["crit"]
        page.goto(f"{server.base}/d/{cv.dataset}/{cv.version}/t/critiques/r/{crit.critique_id}")
        rows = page.locator("#critique-steps tr[data-step]")
        assert rows.count() == len(crit.steps)
        assert page.locator("#critique-steps tr.first-error").get_attribute("data-step") == str(crit.true_first_error_step)
        first_cells = page.locator("#critique-steps tr.first-error td").all_inner_texts()
        assert first_cells[3] == "incorrect" and first_cells[5] == "yes"
        _shot(page, shots, "06-critique-record")

        # chosen and rejected side by side, with both orders' verdicts
        pv, pair = built["pairs"], built["pair_records"][0]
        page.goto(f"{server.base}/d/{pv.dataset}/{pv.version}/t/pairs/r/{pair.pair_id}")
        chosen, rejected = page.locator("#side-chosen").bounding_box(), page.locator("#side-rejected").bounding_box()
        assert chosen["x"] + chosen["width"] <= rejected["x"] and abs(chosen["y"] - rejected["y"]) < 2
        assert pair.chosen[0].content in page.locator("#side-chosen").inner_text()
        assert pair.rejected[0].content in page.locator("#side-rejected").inner_text()
        verdict_rows = page.locator("#verdicts tr").all_inner_texts()[1:]
        assert len(verdict_rows) == 2 and all("chosen" in v.split("\t")[3] for v in verdict_rows)
        _shot(page, shots, "07-pair-record")

        # code with its test result and the failing line; the changed line highlighted
        code, ci = built["code"], built["code_inj"]
        page.goto(f"{server.base}/d/{code.dataset}/{code.version}/t/code_injections/r/{ci.injection_id}")
        assert page.locator("#test-result").inner_text() == "tests fail"
        assert page.locator("#failing-line").inner_text() == ci.test_error_line
        assert page.locator("#code tr.hl").first.get_attribute("data-line") == str(ci.changed_start)
        _shot(page, shots, "08-code-record")

        # bad input: clear pages, never a stack trace
        for path, status, words in (
                ("/d/no-such-dataset/1.0.0", 404, "no dataset 'no-such-dataset'"),
                (f"/d/{name}/9.9.9", 404, f"{name} has no version '9.9.9'"),
                (f"/d/{name}/{version}/t/no_such_config", 404, "has no config 'no_such_config'"),
                (f"/d/{name}/{version}/t/injections/r/nope", 404, "has no record 'nope'"),
                (f"/d/{name}/{version}/t/injections?f.bogus=1", 404, "no column 'bogus'"),
                (f"/d/{name}/{version}/t/injections?offset=x", 400, "whole numbers"),
                ("/nowhere", 404, "there is no page")):
            resp = page.goto(server.base + path)
            text = page.locator("main").inner_text()
            assert resp.status == status and words in text and "Traceback" not in text, (path, text)
        _shot(page, shots, "09-unknown-version")

        # a review from another page (no token) or to another host name is refused, and stores nothing
        n = len(cat.reviews(name, version))
        url = f"{server.base}/d/{name}/{version}/t/injections/r/{inj['injection_id']}/review"
        assert httpx.post(url, data={"decision": "accepted", "reviewer": "x"}).status_code == 403
        assert httpx.get(server.base + "/", headers={"host": "evil.example:80"}).status_code == 403
        assert len(cat.reviews(name, version)) == n
    finally:
        page.close()
        server.stop()
    # the app wrote nothing but review rows: every other catalog table, every view and every file is as it was
    assert _catalog_state(built["catalog"]) == before_catalog
    assert _files_state(built["data"]) == before_files
    SHOTS.mkdir(parents=True, exist_ok=True)
    for p in shots.glob("*.png"):
        shutil.copy(p, SHOTS / p.name)
    print(f"\nscreenshots of the viewer's pages: {SHOTS} (and {shots})")
    assert len(list(SHOTS.glob("0*.png"))) >= 9


def test_review_apply_makes_a_new_version(built):
    """Reviews made through the catalog method the viewer uses; applied by the CLI."""
    from synth.cli import app
    from synth.view import review as rv
    from synth.view.data import VersionData

    cat = Catalog(built["catalog"])
    second = built["first"]  # the browser test reviews the second version
    name, version = second.dataset, second.version
    data = VersionData(cat, name, version)
    injections = _rows(built, second, "injections")
    pb = _rows(built, second, "processbench")
    drop = injections[0]
    relabel = next(r for r in pb if r["label"] >= 1 and r["id"] != drop["injection_id"])
    keep = next(r for r in pb if r["id"] not in (drop["injection_id"], relabel["id"]))
    for r in (rv.ReviewInput("injections", drop["injection_id"], "rejected", "ana", reason="wrong_label"),
              rv.ReviewInput("processbench", relabel["id"], "relabelled", "ana", label_field="first_error_step",
                             new_value=str(relabel["label"] - 1)),
              rv.ReviewInput("processbench", keep["id"], "accepted", "bo"),
              rv.ReviewInput("processbench", keep["id"], "comment", "bo", comment="looks right")):
        rv.submit(cat, data, r)
    with pytest.raises(Exception, match="needs a reason"):
        rv.submit(cat, data, rv.ReviewInput("injections", drop["injection_id"], "rejected", "ana"))
    with pytest.raises(Exception, match="made from other records"):
        rv.submit(cat, data, rv.ReviewInput("prm_stepwise", "row-0", "accepted", "ana"))
    reviewed_files = {f["path"]: f["sha256"] for f in data.info["files"]}
    latest = {(r["table_name"], r["record_id"]): r for r in rv.latest(cat.reviews(name, version)).values()}

    result = CliRunner().invoke(app, ["review", "apply", f"{name}@{version}", "--data-dir", str(built["data"])])
    assert result.exit_code == 0, result.output
    new = cat.latest_version(name)
    assert new != version
    info = cat.version_info(name, new)
    assert info["validation_passed"]
    # lineage names the reviewed version; the funnel and the card report the review and the agreement
    reviewed = [l for l in info["lineage"] if l["source_kind"] == "reviewed"]
    assert [l["source"] for l in reviewed] == [f"{name}@{version}"]
    assert "reviewers agreed with the automatic labels on 1 of 3 (33.3%)" in reviewed[0]["detail"]
    row = info["funnel"][-1]
    assert (row["stage"], row["n_in"] - row["n_out"], row["dropped"]) == ("human_review", 1, {"human_review": 1})
    card = (built["data"] / "hub" / name / f"v{new}" / "README.md").read_text()
    assert "reviewers agreed with the automatic labels on 1 of 3" in card and "human_review" in card

    def rows(table):
        return [r for f in sorted((f for f in info["files"] if f["table_name"] == table), key=lambda f: f["path"])
                for r in pq.read_table(f["path"]).to_pylist()]

    # the rejected record and every config row made from it are gone; it is kept in rejects with its reason
    new_pb = rows("processbench")
    assert len(new_pb) == len(pb) - 1 and drop["injection_id"] not in {r["id"] for r in new_pb}
    assert len(rows("injections")) == len(injections) - 1
    assert len(rows("prm_stepwise")) == len(rows("math_shepherd")) == len(new_pb)
    rejected = [r for r in rows("rejects") if r["reason"] == "human_review"]
    assert [r["record_id"] for r in rejected] == [drop["injection_id"]] and "wrong_label" in rejected[0]["detail"]
    assert json.loads(rejected[0]["payload"])["injection_id"] == drop["injection_id"]
    # the relabel reaches the record and its exports; everything else is as registered
    k = relabel["label"] - 1
    i = next(j for j, r in enumerate(new_pb) if r["id"] == relabel["id"])
    assert new_pb[i]["label"] == k
    assert rows("prm_stepwise")[i]["labels"] == [j < k for j in range(len(relabel["steps"]))]
    parts = re.split(r"(?:^|\s)Step \d+: ", rows("math_shepherd")[i]["label"])[1:]  # "Step n: <text> <tag>"
    assert [p.rstrip()[-1] for p in parts] == ["+" if j < k else "-" for j in range(len(relabel["steps"]))]
    old_by_id = {r["id"]: r for r in pb}
    assert all(r == old_by_id[r["id"]] for r in new_pb if r["id"] != relabel["id"])
    # the reviewed version is untouched, and so are its reviews
    assert Catalog(built["catalog"]).file_checks(name, version) and all(
        c.status == "ok" and reviewed_files[c.path] == c.sha256 for c in cat.file_checks(name, version))
    assert {(r["table_name"], r["record_id"]): r for r in rv.latest(cat.reviews(name, version)).values()} == latest


def test_review_apply_of_a_preference_version_drops_the_dpo_row_too(built):
    from synth.view import review as rv
    from synth.view.data import VersionData

    cat = Catalog(built["catalog"])
    pv = built["pairs"]
    data = VersionData(cat, pv.dataset, pv.version)
    pair = built["pair_records"][1]
    rv.submit(cat, data, rv.ReviewInput("pairs", pair.pair_id, "rejected", "ana", reason="wrong_solution"))
    done = rv.apply(cat, f"{pv.dataset}@{pv.version}", built["data"])
    assert done.registered.new and done.dropped == 1
    info = cat.version_info(pv.dataset, done.registered.version)
    rows = {f["table_name"]: pq.read_table(f["path"]).to_pylist() for f in info["files"]}
    assert [p["pair_id"] for p in rows["pairs"]] == [p.pair_id for p in built["pair_records"] if p is not pair]
    assert [d["chosen"] for d in rows["dpo"]] == [p["chosen"] for p in rows["pairs"]]
    # nothing left to apply twice: only accepted reviews make no new version
    other = VersionData(cat, built["crit"].dataset, built["crit"].version)
    rv.submit(cat, other, rv.ReviewInput("critiques", built["crits"][0].critique_id, "accepted", "ana"))
    again = rv.apply(cat, f"{built['crit'].dataset}@{built['crit'].version}", built["data"])
    assert again.registered is None and "same content" in again.message


def test_view_bench_small_mode(capsys):
    import importlib.util
    import math

    spec = importlib.util.spec_from_file_location("bench_view", REPO / "bench" / "view.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    figures = module.main(["--small"])
    assert figures["rows"] == 20_000
    assert all(math.isfinite(v) and v > 0 for k, v in figures.items() if k.endswith("_s"))
    out = capsys.readouterr().out
    assert "first page" in out and "20,000 rows" in out


def test_synth_view_command_serves_on_loopback_and_refuses_unknown_versions(built, tmp_path):
    import subprocess
    import sys

    import httpx

    env = dict(os.environ, SYNTH_HOME=str(built["data"]))
    synth = [str(Path(sys.executable).parent / "synth")]  # the console script installed with the venv
    bad = subprocess.run(synth + ["view", "view-injected@9.9.9"], env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "view-injected@9.9.9 is not in the catalog" in bad.stdout + bad.stderr
    port = _free_port()
    proc = subprocess.Popen(synth + ["view", "view-pairs", "--port", str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/d/view-pairs/1.0.0", timeout=30)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, "synth view did not start"
                time.sleep(0.5)
        assert r.status_code == 200 and "view-pairs" in r.text and 'id="funnel-chart"' in r.text
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0]
    latest = Catalog(built["catalog"]).latest_version("view-pairs")  # NAME alone opens its latest version
    assert f"http://127.0.0.1:{port}/d/view-pairs/{latest} " in out
