"""Self-contained HTML pages for widgets: the bundle inline, state and stored results as JSON.

ipywidgets' own embedding loads its widget manager from a CDN, so instead the page carries
jaxviz/static/page.js, which renders the widget's bundle against a small in-page model that
answers from the stored results. Binary buffers are stored as ``{"$bytes": base64}``.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

STATIC = Path(__file__).resolve().parent.parent / "static"
PAGE_MIME = "application/vnd.jaxviz.page+json"


def _jsonable(value: Any) -> Any:
    if isinstance(value, (memoryview, bytes, bytearray)):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _script_safe(text: str) -> str:
    # Inside <script>, "</script" would end the block early; JSON strings may spell "<" as \u003c.
    return text.replace("<", "\\u003c")


def page_html(
    *,
    title: str,
    esm: str,
    css: str,
    state: dict[str, Any],
    stored: list[dict[str, Any]],
    compute_traits: tuple[str, ...],
) -> str:
    """The page's HTML text. ``stored`` is ``[{"state": {...}, "result": {...}}, ...]``."""
    runtime = (STATIC / "page.js").read_text(encoding="utf-8")
    if "</script" in runtime.lower():
        raise RuntimeError("jaxviz/static/page.js must not contain '</script'")
    block = json.dumps(
        {
            "esm": esm,
            "css": css,
            "state": _jsonable(state),
            "stored": _jsonable(stored),
            "compute_traits": list(compute_traits),
        },
        separators=(",", ":"),
        allow_nan=False,
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        "<style>body.jv-standalone{margin:16px;background:Canvas;color:CanvasText;"
        "color-scheme:light dark;font-family:system-ui,sans-serif}</style>\n"
        '</head>\n<body class="jv-standalone">\n'
        f'<script type="{PAGE_MIME}">{_script_safe(block)}</script>\n'
        f'<script type="module">{runtime}</script>\n'
        "</body>\n</html>\n"
    )
