"""Self-contained HTML pages: sections of embedded charts and tables, all text escaped.

Concepts held here:

* :class:`Section` -- a titled part of a page holding blocks of (already safe) HTML.
* :func:`figure_html` -- a chart embedded as a base64 PNG ``data:`` URI with its caption,
  so the page opens offline from a single file.
* :func:`table_html` / :class:`Badge` -- tables whose cells are escaped; a badge renders
  pass/fail (or any short status) in colour.
* :func:`page_html` -- the whole document: inline CSS, a table of contents, no scripts and
  no external requests.

Every piece of text that came from a file (scenario names, endpoint names, error
messages) goes through :func:`esc`; nothing else builds markup from data.
"""

from __future__ import annotations

import base64
import html
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sim.report.figures import Chart

_CSS = """
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       margin: 0; color: #1d2329; background: #f4f5f7; }
header { background: #1f3a5f; color: #fff; padding: 18px 28px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 2px 0; opacity: .9; font-size: 13px; }
nav { background: #fff; border-bottom: 1px solid #dde1e6; padding: 8px 28px; font-size: 13px; }
nav a { margin-right: 14px; color: #1f3a5f; text-decoration: none; }
main { max-width: 1200px; margin: 0 auto; padding: 12px 24px 40px; }
section { background: #fff; border: 1px solid #dde1e6; border-radius: 8px;
          padding: 14px 20px; margin: 16px 0; }
section h2 { margin: 0 0 10px; font-size: 18px; color: #1f3a5f; }
figure { margin: 12px 0 22px; }
figure img { display: block; max-width: 100%; height: auto; margin: 0 auto;
             border: 1px solid #eef0f2; }
figcaption { font-size: 13px; color: #4a5560; margin-top: 4px; }
figcaption b { color: #1d2329; }
table { border-collapse: collapse; font-size: 13px; margin: 6px 0 12px; }
th, td { padding: 4px 10px; border-bottom: 1px solid #e6e9ec; text-align: right; }
th { background: #f0f2f5; position: sticky; top: 0; }
th:first-child, td:first-child { text-align: left; }
td.text { text-align: left; }
td { white-space: nowrap; } td.text { white-space: normal; }
tr:nth-child(even) td { background: #fafbfc; }
.wide { overflow-x: auto; }
.scroll { max-height: 420px; overflow: auto; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; font-size: 12px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; color: #fff;
         font-weight: 600; font-size: 12px; }
.pass { background: #2e7d32; } .fail { background: #c62828; } .info { background: #546e7a; }
.skip { background: #9e9e9e; }
.note { color: #4a5560; font-size: 13px; }
.answer { font-size: 16px; padding: 8px 12px; background: #eef6ee; border-left: 4px solid
          #2e7d32; margin: 8px 0; }
.answer.miss { background: #fbeeee; border-left-color: #c62828; }
"""


def esc(text: object) -> str:
    """Escape anything for HTML text and attribute values."""
    return html.escape(str(text), quote=True)


def anchor(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "section"


@dataclass(frozen=True, slots=True)
class Badge:
    """A short coloured status in a table cell; ``kind`` is pass (green), fail (red),
    skip (grey: not judged, e.g. a threshold with no samples) or info."""

    text: str
    kind: str = "info"


Cell = str | int | float | bool | Badge | None


@dataclass(frozen=True, slots=True)
class Section:
    """A titled part of a page; ``blocks`` are HTML fragments built by this module."""

    title: str
    blocks: tuple[str, ...]


def verdict(passed: bool, skipped: bool = False) -> Badge:
    """A check's result: skipped shows grey ("skipped"), never as a green pass."""
    if skipped:
        return Badge("skipped", "skip")
    return Badge("pass", "pass") if passed else Badge("FAIL", "fail")


def verdict_summary(passed: int, failed: int, skipped: int) -> tuple[str, str]:
    """One line over a set of checks and its CSS class (``answer`` when nothing failed,
    ``answer miss`` otherwise); skipped checks are named, never counted as passes."""
    if failed:
        text = f"{failed} threshold(s) failed."
    elif skipped:
        text = f"All judged thresholds passed ({passed})."
    else:
        text = "All thresholds passed."
    if skipped:
        text += f" {skipped} skipped (no samples, not judged)."
    return text, "answer" if failed == 0 else "answer miss"


def fmt_number(v: float | int | None, digits: int = 2) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:,.{digits}f}"


def _cell(v: Cell) -> str:
    if isinstance(v, Badge):
        kind = v.kind if v.kind in ("pass", "fail", "skip", "info") else "info"
        return f'<td><span class="badge {kind}">{esc(v.text)}</span></td>'
    if v is None or isinstance(v, bool | int | float):
        return f"<td>{esc(fmt_number(v))}</td>"
    return f'<td class="text">{esc(v)}</td>'


def table_html(headers: Sequence[str], rows: Sequence[Sequence[Cell]], scroll: bool = False) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in rows)
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    # Wide tables scroll inside their section rather than widening the page.
    return f'<div class="{"scroll" if scroll else "wide"}">{table}</div>'


def figure_html(c: Chart) -> str:
    data = base64.b64encode(c.png).decode("ascii")
    return (
        f'<figure id="fig-{esc(c.name)}"><img src="data:image/png;base64,{data}" '
        f'alt="{esc(c.title)}">'
        f"<figcaption><b>{esc(c.title)}.</b> {esc(c.caption)}</figcaption></figure>"
    )


def paragraph(text: str, cls: str = "note") -> str:
    return f'<p class="{esc(cls)}">{esc(text)}</p>'


def code_paragraph(text: str, cls: str = "note") -> str:
    """A paragraph whose ```backticked``` words render as code (the rest escaped)."""
    body = re.sub(r"`([^`<>]+)`", r"<code>\1</code>", esc(text))
    return f'<p class="{esc(cls)}">{body}</p>'


def page_html(title: str, subtitle: Sequence[str], sections: Sequence[Section]) -> str:
    """The complete document (no scripts, no external resources)."""
    nav = "".join(f'<a href="#{anchor(s.title)}">{esc(s.title)}</a>' for s in sections)
    subs = "".join(f"<p>{esc(line)}</p>" for line in subtitle)
    body = "".join(
        f'<section id="{anchor(s.title)}"><h2>{esc(s.title)}</h2>{"".join(s.blocks)}</section>'
        for s in sections
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{esc(title)}</title><style>{_CSS}</style></head>"
        f"<body><header><h1>{esc(title)}</h1>{subs}</header><nav>{nav}</nav>"
        f"<main>{body}</main></body></html>\n"
    )
