"""``compare.html``: one self-contained page for a :class:`~sim.compare.Comparison`.

Inline CSS, no scripts, no external requests: the page opens from a CI artifact store or
an e-mail.  Every text from the inputs (paths, endpoint names, warnings) is escaped.  Each
delta shows its interval as a small inline SVG bar around 0, so a change that is within
noise is seen to straddle the zero line.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sim.compare import Comparison, Delta
    from sim.compare_gate import GateCheck

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}
.better{background:#e3f6e3}.worse{background:#fbe3e3}.changed{background:#fff4d6}
.warn{background:#fff4d6;padding:.5em;border-left:4px solid #e0a000}
.fail{color:#b00;font-weight:bold}.ok{color:#070}.skip{color:#777}
small{color:#666}
"""

_SECTION_TITLES = {
    "kpis": "KPI deltas",
    "endpoints": "Endpoints (latency per attempt, error ratio per call)",
    "flows": "Batch flows (request to tasks available)",
    "lag": "Schedule lag (load generator)",
}


def _n(x: float, signed: bool = False) -> str:
    if math.isnan(x):
        return "n/a"
    if math.isinf(x):
        return "+∞" if x > 0 else "−∞"
    return f"{x:+.4g}" if signed else f"{x:.4g}"


def _bar(d: Delta, width: int = 120) -> str:
    """The interval as a bar on an axis symmetric about 0 (the delta as a tick)."""
    if not d.has_interval:
        return ""
    span = max(abs(d.low), abs(d.high), abs(d.delta)) or 1.0

    def x(v: float) -> float:
        return round(width / 2 + v / span * (width / 2 - 4), 1)

    colour = {"better": "#2a2", "worse": "#c22"}.get(d.verdict, "#888")
    return (
        f'<svg width="{width}" height="12" role="img" aria-label="interval">'
        f'<line x1="{width / 2}" y1="0" x2="{width / 2}" y2="12" stroke="#999"/>'
        f'<rect x="{x(d.low)}" y="3" width="{max(round(x(d.high) - x(d.low), 1), 1)}" height="6" '
        f'fill="{colour}" opacity=".5"/>'
        f'<line x1="{x(d.delta)}" y1="1" x2="{x(d.delta)}" y2="11" stroke="{colour}"/></svg>'
    )


def _delta_rows(deltas: Sequence[Delta]) -> str:
    rows = []
    for d in deltas:
        unit = f" <small>{escape(d.unit)}</small>" if d.unit else ""
        ci = f"[{_n(d.low, True)}, {_n(d.high, True)}]" if d.has_interval else "–"
        pct = _n(d.delta_pct, True) + "%" if not math.isnan(d.delta_pct) else "n/a"
        p_adj = "–" if math.isnan(d.p_adjusted) else f"{d.p_adjusted:.3g}"
        if d.p_adjusted == 0:
            p_adj = "< 0.0001"  # no resample crossed 0 (a bootstrap's resolution)
        title = escape(d.method or d.note, quote=True)
        rows.append(
            f'<tr class="{escape(d.verdict.replace(" ", "-"))}">'
            f'<td class="l">{escape(d.scope or "run")}</td>'
            f'<td class="l">{escape(d.metric)}{unit}</td>'
            f"<td>{_n(d.base)}</td><td>{_n(d.new)}</td><td>{_n(d.delta, True)}</td>"
            f'<td>{pct}</td><td title="{title}">{ci}</td><td>{_bar(d)}</td><td>{p_adj}</td>'
            f'<td class="l">{escape(d.verdict)}</td><td>{d.n_base} / {d.n_new}</td></tr>'
        )
    head = (
        '<tr><th class="l">scope</th><th class="l">metric</th><th>base</th><th>new</th>'
        "<th>delta</th><th>delta %</th><th>95% interval</th><th>around 0</th><th>p (Holm)</th>"
        '<th class="l">verdict</th><th>n base / new</th></tr>'
    )
    return f"<table>{head}{''.join(rows)}</table>"


def _gate_rows(checks: Sequence[GateCheck]) -> str:
    rows = []
    for c in checks:
        cls, word = (
            ("skip", "skipped") if c.skipped else ("ok", "ok") if c.passed else ("fail", "FAIL")
        )
        actual = "–" if c.actual is None else f"{c.actual:g}"
        rows.append(
            f'<tr><td class="l">{escape(c.scope or "run")}</td>'
            f'<td class="l">{escape(c.limit.describe())}</td><td>{actual}</td>'
            f'<td class="l {cls}">{word}</td><td class="l">{escape(c.reason)}</td></tr>'
        )
    head = (
        '<tr><th class="l">scope</th><th class="l">limit</th><th>actual</th>'
        '<th class="l">result</th><th class="l">why</th></tr>'
    )
    return f"<h2>Gate</h2><table>{head}{''.join(rows)}</table>"


def render_html(c: Comparison, checks: Sequence[GateCheck] | None = None) -> str:
    """The whole page."""
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>fleetsim compare: {escape(c.kind)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Compare {escape(c.kind)}s</h1>",
        f"<p>base <code>{escape(c.base)}</code><br>new <code>{escape(c.new)}</code></p>",
    ]
    parts += [f'<p class="warn">{escape(w)}</p>' for w in c.warnings]
    n_sig = len(c.significant)
    rule = f"a {c.confidence:.0%} interval that excludes 0"
    if any(not math.isnan(d.p_adjusted) for d in c.deltas):
        rule += f" and a Holm-adjusted p-value under {1 - c.confidence:.2g}"
    parts.append(
        f"<p>{len(c.deltas)} metrics compared; {n_sig} significant ({rule}). "
        "Delta is new − base.</p>"
    )
    if checks is not None:
        parts.append(_gate_rows(checks))
    for section, title in _SECTION_TITLES.items():
        rows = [d for d in c.deltas if d.section == section]
        if rows:
            parts.append(f"<h2>{escape(title)}</h2>{_delta_rows(rows)}")
    for t in c.tables:
        head = "".join(f"<th>{escape(col)}</th>" for col in t.columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in r) + "</tr>" for r in t.rows
        )
        parts.append(f"<h2>{escape(t.title)}</h2><table><tr>{head}</tr>{body}</table>")
    if c.notes:
        parts.append("<h2>Method</h2><ul>")
        parts += [f"<li>{escape(n)}</li>" for n in c.notes]
        parts.append("</ul>")
    parts.append("</body></html>\n")
    return "".join(parts)
