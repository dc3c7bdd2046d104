"""The viewer: a local web app (FastAPI, server-rendered Jinja2 pages) over the catalog and the
registered files of each version, and the review form. It binds to loopback only, answers only
requests addressed to loopback (no DNS rebinding), and a review form carries a per-process token, so
another web page open in the same browser cannot post reviews.

The app opens the catalog with read-only connections; its one write is `Catalog.add_review`.
"""

from __future__ import annotations

import html
import logging
import os
import secrets
import time
from pathlib import Path
from typing import Any, Optional
from urllib.parse import parse_qs, quote, urlencode

import jinja2
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from catalog import Catalog
from synth.errors import SynthError
from synth.view import review as rv
from synth.view.data import ID_COLUMNS, NotFound, VersionData
from synth.view.records import cell, view_of

log = logging.getLogger("synth.view")
_TEMPLATES = Path(__file__).parent / "templates"
PAGE_SIZES = (10, 25, 50, 100)
DIFF_ROW_LIMIT = 200_000  # above this, the diff against the parent is its own page (it hashes every row)
LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


def funnel_chart(funnel: list[dict[str, Any]]) -> dict[str, Any]:
    """Bars for an inline SVG: per stage, what came in and what was kept, on one scale."""
    top = max([f["n_in"] for f in funnel] + [f["n_out"] for f in funnel] + [1])
    width, label_w, row_h, text_w = 780, 170, 34, 220
    bars = []
    for i, f in enumerate(funnel):
        y = 8 + i * row_h
        bars.append({"stage": f["stage"], "y": y, "w_in": max(1.0, (width - label_w - text_w) * f["n_in"] / top),
                     "w_out": (width - label_w - text_w) * f["n_out"] / top, "n_in": f["n_in"], "n_out": f["n_out"],
                     "unit_in": f["unit_in"], "unit_out": f["unit_out"],
                     "dropped": ", ".join(f"{k}: {n}" for k, n in f["dropped"].items())})
    return {"bars": bars, "width": width, "label_w": label_w, "height": 16 + row_h * len(funnel)}


def shown_label(value: Optional[str], field: Optional[str]) -> str:
    """A stored label (JSON) as the pages show it: steps counted from 1, as in the steps views."""
    import json

    v = json.loads(value) if value else None
    if field == "first_error_step" and isinstance(v, int):
        return "no wrong step" if v < 0 else f"step {v + 1}"
    return str(v)


def _markdown(text: str) -> str:
    from markdown_it import MarkdownIt

    body = text.split("---\n", 2)[-1] if text.startswith("---\n") else text  # the YAML header is metadata
    return MarkdownIt("commonmark", {"html": False}).enable("table").render(body)


class Viewer:
    def __init__(self, catalog_path: Path, reviewer: str = ""):
        self.catalog_path = Path(catalog_path)
        self.catalog = Catalog(self.catalog_path)
        self.catalog.check()
        self.reviewer = reviewer
        self.token = secrets.token_urlsafe(16)
        self._versions: dict[tuple[str, str], VersionData] = {}
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(_TEMPLATES), autoescape=True,
                                      undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        self.env.filters["cell"] = cell
        self.env.filters["q"] = lambda s: quote(str(s), safe="")
        self.env.filters["label"] = shown_label
        self.env.globals["url"] = self.url
        for name in self.env.list_templates():  # compiled at start-up, not by the first request of each page
            self.env.get_template(name)

    @staticmethod
    def url(*parts: str, **params: Any) -> str:
        path = "/" + "/".join(quote(str(p), safe="") for p in parts)
        params = {k: v for k, v in params.items() if v not in (None, "")}
        return path + ("?" + urlencode(params) if params else "")

    def render(self, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        return HTMLResponse(self.env.get_template(name).render(**ctx), status_code=status)

    def error(self, status: int, title: str, message: str, links: Optional[list[tuple[str, str]]] = None) -> HTMLResponse:
        return self.render("error.html", status, title=title, message=message,
                           links=links or [("the catalog", "/")])

    def data(self, dataset: str, version: str) -> VersionData:
        """A version's record from the catalog, read once: a registered version never changes."""
        key = (dataset, version)
        if key not in self._versions:
            self._versions[key] = VersionData(self.catalog, dataset, version)
        return self._versions[key]


def create_app(catalog_path: Path, reviewer: str = "") -> FastAPI:
    import synth.card  # noqa: F401  (imported at start-up, not by the first request)
    import synth.pipeline  # noqa: F401

    v = Viewer(catalog_path, reviewer)
    app = FastAPI(title="synth viewer", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.viewer = v

    @app.middleware("http")
    async def loopback_only(request: Request, call_next):
        host = (request.headers.get("host") or "").rsplit(":", 1)[0]
        if host not in LOOPBACK:
            return v.error(403, "not served", f"this viewer answers requests to 127.0.0.1 only, not to {host!r}")
        try:
            return await call_next(request)
        except NotFound as e:
            return v.error(404, "not found", str(e))
        except SynthError as e:
            return v.error(400, "cannot show this", str(e))
        except Exception:  # a bug: logged with its traceback here, one plain page there
            log.exception("viewer error on %s", request.url.path)
            return v.error(500, "internal error", "the viewer failed on this page; the terminal running "
                                                  "`synth view` shows the traceback")

    @app.get("/", response_class=HTMLResponse)
    def catalog_page():
        versions = v.catalog.list_versions()
        counts = {(r["dataset"], r["version"]): r["n"] for r in v.catalog.query(
            "SELECT dataset, version, count(DISTINCT table_name || '/' || record_id) AS n FROM reviews "
            "WHERE decision <> 'comment' GROUP BY 1, 2")}
        datasets = v.catalog.query("SELECT name, kind, description FROM datasets ORDER BY name")
        for d in datasets:
            d["versions"] = [dict(r, reviewed=counts.get((r["dataset"], r["version"]), 0))
                             for r in versions if r["dataset"] == d["name"]][::-1]
        return v.render("catalog.html", datasets=datasets, path=str(v.catalog_path))

    @app.get("/d/{dataset}", response_class=HTMLResponse)
    def latest(dataset: str):
        version = v.catalog.latest_version(dataset)
        if version is None:
            VersionData(v.catalog, dataset, "")  # raises NotFound naming the datasets there are
        return RedirectResponse(v.url("d", dataset, version), status_code=303)

    @app.get("/d/{dataset}/{version}", response_class=HTMLResponse)
    def version_page(dataset: str, version: str):
        import yaml

        from synth.card import contamination_report, render_card
        from synth.registry import publish_order

        d = v.data(dataset, version)
        info = d.info
        v.catalog.require_intact(dataset, version, info["files"])
        tables = d.tables()
        total = sum(t["rows"] for t in tables)
        changes = None
        if info["parent_version"] and total <= DIFF_ROW_LIMIT:
            from synth.access import diff

            changes = diff(v.catalog, f"{dataset}@{info['parent_version']}", d.ref)
        card = _markdown(render_card(info, publish_order(d.kind), changes))
        recipe = yaml.safe_load(info["recipe_yaml"]) or {}
        summary = rv.summarize(v.catalog.reviews(dataset, version))
        return v.render("version.html", d=d, info=info, tables=tables, chart=funnel_chart(info["funnel"]),
                        changes=changes, diff_skipped=bool(info["parent_version"]) and changes is None,
                        card=card, contamination=contamination_report(info, recipe), summary=summary,
                        usage=info["usage"], build=info["build"],
                        validations=[dict(x, details_text=x["details"]) for x in info["validations"]])

    @app.get("/d/{dataset}/{version}/diff", response_class=HTMLResponse)
    def diff_page(dataset: str, version: str):
        from synth.access import diff

        d = v.data(dataset, version)
        parent = d.info["parent_version"]
        if not parent:
            raise NotFound(f"{d.ref} has no parent version to compare with")
        return v.render("diff.html", d=d, changes=diff(v.catalog, f"{dataset}@{parent}", d.ref))

    @app.get("/d/{dataset}/{version}/t/{table}", response_class=HTMLResponse)
    def table_page(request: Request, dataset: str, version: str, table: str):
        t0 = time.perf_counter()
        d = v.data(dataset, version)
        qp = request.query_params
        try:
            offset = max(0, int(qp.get("offset", "0") or 0))
            limit = int(qp.get("limit", "25") or 25)
        except ValueError:
            raise SynthError("offset and limit are whole numbers") from None
        limit = limit if limit in PAGE_SIZES else 25
        filters = {k[2:]: val for k, val in qp.items() if k.startswith("f.") and val != ""}
        q = qp.get("q", "")
        page = d.page(table, offset, limit, filters, q)
        facets = d.facets(table)
        reviewed = rv.latest(v.catalog.reviews(dataset, version, table))
        states = [reviewed[(table, k)]["decision"] if k and (table, k) in reviewed else "" for k in page.keys]
        keys = [k if k is not None else f"row-{offset + i}" for i, k in enumerate(page.keys)]
        if filters or q:  # row numbers only name rows of the unfiltered table
            keys = [k if not k.startswith("row-") else None for k in keys]
        base = {"limit": limit, "q": q, **{f"f.{c}": val for c, val in filters.items()}}
        filter_cols = list(facets) or [c for c, ty in page.columns
                                        if ty in ("VARCHAR", "INTEGER", "BIGINT", "BOOLEAN")][:4]
        filter_params = {f"f.{c}": val for c, val in filters.items()}
        return v.render("table.html", d=d, page=page, facets=facets, filter_cols=filter_cols, keys=keys,
                        filter_params=filter_params, states=states, base=base,
                        sizes=PAGE_SIZES, id_col=ID_COLUMNS.get(table), tables=d.tables(),
                        reviewable=table in ID_COLUMNS and table not in ("seeds", "rejects"),
                        elapsed=time.perf_counter() - t0)

    @app.get("/d/{dataset}/{version}/t/{table}/r/{key}", response_class=HTMLResponse)
    def record_page(request: Request, dataset: str, version: str, table: str, key: str):
        d = v.data(dataset, version)
        row = d.record(table, key)
        history = v.catalog.reviews(dataset, version, table, key) if table in ID_COLUMNS else []
        current = rv.latest(history).get((table, key))
        return v.render("record.html", d=d, table=table, key=key, view=view_of(table, row), history=history,
                        current=current, reviewable=table in ID_COLUMNS and table not in ("seeds", "rejects"),
                        labels=rv.label_choices(table, row), reasons=rv.REJECT_REASONS, token=v.token,
                        reviewer=request.cookies.get("synth_reviewer") or v.reviewer,
                        saved=request.query_params.get("saved") == "1", problem="",
                        nav=neighbours(d, table, request.query_params), back=request.url.query)

    def neighbours(d: VersionData, table: str, qp) -> dict[str, Any]:
        """The previous and next records of the table page a record was opened from (its position,
        filters and search travel in the link), so a reviewer goes through records one after another."""
        try:
            pos = int(qp.get("pos", ""))
        except ValueError:
            return {}
        filters = {k[2:]: val for k, val in qp.items() if k.startswith("f.") and val != ""}
        q = qp.get("q", "")
        keep = {k: val for k, val in qp.items() if k.startswith("f.") or k == "q"}
        out: dict[str, Any] = {"pos": pos}
        for name, p in (("prev", pos - 1), ("next", pos + 1)):
            if p < 0:
                continue
            page = d.page(table, p, 1, filters, q)
            if page.rows:
                k = page.keys[0] if page.keys[0] is not None else (None if filters or q else f"row-{p}")
                if k is not None:
                    out[name] = v.url("d", d.dataset, d.version, "t", table, "r", k, pos=p, **keep)
            out["total"] = page.total
        return out

    @app.post("/d/{dataset}/{version}/t/{table}/r/{key}/review")
    async def post_review(request: Request, dataset: str, version: str, table: str, key: str):
        form = {k: vals[-1] for k, vals in parse_qs((await request.body()).decode(), keep_blank_values=True).items()}
        if not secrets.compare_digest(form.get("token", ""), v.token):
            return v.error(403, "review refused", "this form is not from this viewer (its token does not match); "
                                                  "reload the record page and submit again")
        d = v.data(dataset, version)
        r = rv.ReviewInput(table=table, record_id=key, decision=form.get("decision", ""),
                           reviewer=form.get("reviewer", ""), reason=form.get("reason", ""),
                           label_field=form.get("label_field", ""),
                           new_value=form.get(f"new_value.{form.get('label_field', '')}", form.get("new_value", "")),
                           comment=form.get("comment", ""))
        try:
            rv.submit(v.catalog, d, r)
        except NotFound:
            raise
        except SynthError as e:  # shown on the record page, with what was typed
            row = d.record(table, key)
            history = v.catalog.reviews(dataset, version, table, key)
            return v.render("record.html", 400, d=d, table=table, key=key, view=view_of(table, row),
                            history=history, current=rv.latest(history).get((table, key)), reviewable=True,
                            labels=rv.label_choices(table, row), reasons=rv.REJECT_REASONS, token=v.token,
                            reviewer=r.reviewer, saved=False, problem=str(e), nav={}, back=form.get("back", ""))
        back = {k: val for k, val in parse_qs(form.get("back", "")).items()}
        resp = RedirectResponse(v.url("d", dataset, version, "t", table, "r", key, saved="1",
                                      **{k: vals[-1] for k, vals in back.items() if k != "saved"}), status_code=303)
        resp.set_cookie("synth_reviewer", r.reviewer.strip(), httponly=True, samesite="strict")
        return resp

    @app.get("/d/{dataset}/{version}/reviews", response_class=HTMLResponse)
    def reviews_page(dataset: str, version: str):
        d = v.data(dataset, version)
        reviews = v.catalog.reviews(dataset, version)
        return v.render("reviews.html", d=d, reviews=reviews[::-1], summary=rv.summarize(reviews))

    @app.get("/favicon.ico")
    def favicon():
        return Response(status_code=204)

    @app.exception_handler(404)
    async def unknown_path(request: Request, exc):
        return v.error(404, "not found", f"there is no page {html.escape(request.url.path)!s}")

    return app


def serve(catalog_path: Path, host: str = "127.0.0.1", port: int = 8765, reviewer: str = "",
          open_version: Optional[tuple[str, str]] = None) -> None:
    """Runs the app until interrupted. Only loopback addresses are accepted. The version it is opened
    on is read and its files checked before it listens, so its first page is not the slow one."""
    import uvicorn

    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SynthError(f"synth view binds to loopback only (127.0.0.1), not {host!r}")
    app = create_app(catalog_path, reviewer or os.environ.get("USER", ""))
    if open_version:
        d = app.state.viewer.data(*open_version)
        d.catalog.require_intact(d.dataset, d.version, d.info["files"])
    uvicorn.run(app, host=host, port=port, log_level="warning")
