"""The HTML of a page: a small shell with the page's first data inside it, so the page is usable
after one request (the script draws it from that data, then keeps it live through the API)."""

from __future__ import annotations

import json
from html import escape

__all__ = ["TITLES", "page"]

TITLES = {
    "tasks": "Tasks",
    "task": "Task",
    "compare": "Compare",
    "instances": "Instances",
    "catalog": "Catalog",
}
NAV = ("tasks", "instances", "catalog")
HREF = {"tasks": "/", "instances": "/instances", "catalog": "/catalog"}


def _json_for_script(data: object) -> str:
    # Inside <script>, "</" could end the element early: escape every "<" (and & for safety).
    return json.dumps(data).replace("<", "\\u003c").replace("&", "\\u0026")


def page(name: str, data: object, token: str) -> str:
    """The page ``name`` (one of :data:`TITLES`) with ``data`` for its script."""
    title = TITLES[name]
    if name == "task" and isinstance(data, dict) and "task" in data:
        title = f"{data['task']['name']} · Task"
    links = "".join(
        f'<a href="{HREF[n]}"{" class=here" if n == name else ""}>{TITLES[n]}</a>' for n in NAV
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="flow-token" content="{escape(token)}">
<meta name="referrer" content="no-referrer">
<title>{escape(title)} · flow ui</title>
<link rel="stylesheet" href="/static/style.css">
<link rel="stylesheet" href="/static/vendor/uPlot.min.css">
</head><body data-page="{name}">
<header><a class="brand" href="/">flow ui</a><nav>{links}</nav></header>
<main id="app"><noscript>flow ui needs JavaScript.</noscript></main>
<script type="application/json" id="data">{_json_for_script(data)}</script>
<script src="/static/vendor/uPlot.iife.min.js"></script>
<script type="module" src="/static/app.js"></script>
</body></html>
"""
