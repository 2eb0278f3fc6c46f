"""``report.html``: the run report for a person who wants to look rather than
read; plain functions, a report dict (``report.json``'s content) in, one HTML
page out.

The page is self-contained: its CSS and its plot (an SVG drawn by pygal) are
inline, it has no script and loads nothing, so it opens from disk anywhere.
Its parts (docs/report.md):

- the verdict: good, or broken with its problems;
- records per item type: valid, rejected, stored; failed per kind;
- field coverage per item type (share of non-empty values), as bars, with the
  previous complete run's share and the change when there is one;
- the top reject and failure reasons;
- records per second over the run (a plot of the progress samples);
- the comparison with the previous complete run of the same spider and scope:
  valid items per type, with the change; a change beyond the tolerance is
  flagged.
"""

from __future__ import annotations

import itertools
import re
import sys
from html import escape
from typing import Any

import pygal
from pygal.style import Style

# pygal appends a finder of its map plugins (unused here) to sys.meta_path;
# it has no find_spec, so every failed import after it warns (ImportWarning):
# taken out again
sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, pygal.PluginImportFixer)]

#: reasons shown in each top list
TOP_REASONS = 10

CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; max-width: 1100px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; }
.meta { color: #555; } .good { color: #1a7f37; } .broken { color: #cf222e; }
table { border-collapse: collapse; margin: 4px 0 12px; }
th, td { padding: 3px 10px; border-bottom: 1px solid #e4e4e4; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.bar { background: #eef1f4; width: 240px; height: 12px; }
.bar > div { background: #3b82c4; height: 12px; }
tr.flagged td { background: #fff4e5; } .flag { color: #b35900; font-weight: 600; }
.up { color: #1a7f37; } .down { color: #cf222e; } .none { color: #777; }
"""


def _n(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else escape(str(value))


def _pct(share: float | None) -> str:
    return "-" if share is None else f"{share:.1%}"


def _change(change: float | None, points: bool = False) -> str:
    if change is None:
        return '<span class="none">new</span>'
    css = "up" if change > 0 else "down" if change < 0 else "none"
    text = f"{change * 100:+.1f} pts" if points else f"{change:+.1%}"
    return f'<span class="{css}">{text}</span>'


def _bar(share: float) -> str:
    width = max(0.0, min(share, 1.0)) * 100
    return f'<div class="bar"><div style="width:{width:.1f}%"></div></div>'


def _table(head: list[str], rows: list[str]) -> str:
    cells = "".join(f"<th>{escape(h)}</th>" for h in head)
    return f"<table><tr>{cells}</tr>{''.join(rows)}</table>"


def _row(cells: list[str], flagged: bool = False) -> str:
    css = ' class="flagged"' if flagged else ""
    return f"<tr{css}>{''.join(cells)}</tr>"


def _flag(flagged: bool) -> str:
    return '<td class="flag">flagged</td>' if flagged else "<td></td>"


def verdict(report: dict[str, Any]) -> str:
    problems = report.get("problems") or []
    if not problems:
        return '<p class="good"><strong>Good run</strong>: exit status 0.</p>'
    items = "".join(f"<li>{escape(p)}.</li>" for p in problems)
    return f'<p class="broken"><strong>Broken run</strong>: exit status 1.</p><ul>{items}</ul>'


def records_table(report: dict[str, Any]) -> str:
    items = report["items"]
    failed: dict[str, int] = {}
    for key, n in report["failures"]["by_reason"].items():
        kind = key.partition("/")[0]
        failed[kind] = failed.get(kind, 0) + n
    kinds = sorted(set(items["scraped"]) | set(items["rejected"]) | set(failed))
    rows = [
        _row(
            [
                f"<td>{escape(kind)}</td>",
                f'<td class="n">{_n(items["scraped"].get(kind, 0))}</td>',
                f'<td class="n">{_n(items["rejected"].get(kind, 0))}</td>',
                f'<td class="n">{_n(failed.get(kind, 0))}</td>',
                f'<td class="n">{_n(items["stored"].get(kind, 0))}</td>',
            ]
        )
        for kind in kinds
    ]
    note = (
        f"<p class='meta'>Of the failed, {report['failures']['withdrawn']:,} are listed ids "
        "that answered 404 (withdrawn products: not trouble). Failures count by the kind "
        "of request (a product's reviews page is <em>reviews</em>).</p>"
    )
    return _table(["type", "valid", "rejected", "failed", "stored"], rows) + note


def coverage_tables(report: dict[str, Any], comparison: dict[str, Any] | None) -> str:
    coverage = report.get("coverage") or {}
    if not coverage:
        return "<p class='meta'>No item was validated.</p>"
    before = {(c["type"], c["field"]): c for c in (comparison or {}).get("coverage", [])}
    parts = []
    for item_type, fields in coverage.items():
        head = ["field", "non-empty", ""]
        if comparison:
            head += ["previous", "change", ""]
        rows = []
        for field, share in fields.items():
            cells = [
                f"<td>{escape(field)}</td>",
                f"<td>{_bar(share)}</td>",
                f'<td class="n">{_pct(share)}</td>',
            ]
            then = before.get((item_type, field))
            if comparison:
                if then:
                    cells += [
                        f'<td class="n">{_pct(then["before"])}</td>',
                        f'<td class="n">{_change(then["change"], points=True)}</td>',
                        _flag(then["flagged"]),
                    ]
                else:
                    cells += ["<td></td>", "<td></td>", "<td></td>"]
            rows.append(_row(cells, bool(then and then["flagged"])))
        parts.append(f"<h3>{escape(item_type)}</h3>" + _table(head, rows))
    return "".join(parts)


def reasons_table(counts: dict[str, int], what: str) -> str:
    if not counts:
        return f"<p class='meta'>No {what}.</p>"
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_REASONS]
    most = top[0][1]
    rows = [
        _row(
            [
                f"<td>{escape(reason)}</td>",
                f'<td class="n">{_n(n)}</td>',
                f"<td>{_bar(n / most)}</td>",
            ]
        )
        for reason, n in top
    ]
    more = len(counts) - len(top)
    tail = f"<p class='meta'>and {more} more (report.json has them all).</p>" if more else ""
    return _table(["reason", "records", ""], rows) + tail


def rates(samples: list[list[float]]) -> list[tuple[float, float]]:
    """Records per second between consecutive samples, at each interval's end."""
    points = []
    for (t0, n0), (t1, n1) in itertools.pairwise(samples):
        if t1 > t0:
            points.append((round(t1, 2), round((n1 - n0) / (t1 - t0), 1)))
    return points


STYLE = Style(
    background="white",
    plot_background="white",
    foreground="#333",
    foreground_strong="#222",
    foreground_subtle="#999",
    colors=("#3b82c4",),
    font_family="system-ui, sans-serif",
)


def rate_plot(samples: list[list[float]]) -> str:
    """The SVG of records per second over the run (pygal, no script)."""
    points = rates(samples)
    if len(points) < 2:
        return "<p class='meta'>The run was too short for a plot of its rate.</p>"
    chart = pygal.XY(
        style=STYLE,
        width=900,
        height=300,
        explicit_size=True,
        show_legend=False,
        show_dots=len(points) <= 60,
        dots_size=2,
        fill=True,
        js=[],  # pygal's default tooltips script is loaded from the network
        disable_xml_declaration=True,
        x_title="seconds since the start",
        y_title="records per second",
        include_x_axis=True,
        truncate_label=-1,
    )
    chart.add("records/s", points)
    svg = chart.render(is_unicode=True)
    # pygal adds a script of its config (for tooltips, which js=[] turns off)
    # and comments naming its web site: the page has no script and names no address
    return re.sub(r"<!--.*?-->|<script\b.*?</script>", "", svg, flags=re.DOTALL)


def comparison_section(report: dict[str, Any], comparison: dict[str, Any] | None) -> str:
    if not comparison:
        why = (
            "a resumed job's counts are its last part's"
            if report.get("resumed")
            else "no earlier complete run of this spider and scope"
        )
        return f"<p class='meta'>Nothing to compare with: {why}.</p>"
    rows = [
        _row(
            [
                f"<td>{escape(row['type'])}</td>",
                f'<td class="n">{_n(row["now"])}</td>',
                f'<td class="n">{_n(row["before"])}</td>',
                f'<td class="n">{_change(row["change"])}</td>',
                _flag(row["flagged"]),
            ],
            row["flagged"],
        )
        for row in comparison["items"]
    ]
    valid = comparison["valid"]
    rows.append(
        _row(
            [
                "<td><strong>all</strong></td>",
                f'<td class="n">{_n(valid["now"])}</td>',
                f'<td class="n">{_n(valid["before"])}</td>',
                f'<td class="n">{_change(valid["change"])}</td>',
                "<td></td>",
            ]
        )
    )
    flagged = sum(r["flagged"] for r in comparison["items"]) + sum(
        c["flagged"] for c in comparison["coverage"]
    )
    summary = (
        f"<p>Against run <strong>{escape(str(comparison['run_id']))}</strong> (started "
        f"{escape(str(comparison['started_at']))}): {flagged} change(s) flagged, beyond the "
        f"tolerance of {comparison['tolerance']:.1%} (coverage: in points).</p>"
    )
    return summary + _table(["type", "valid now", "valid before", "change", ""], rows)


def render(report: dict[str, Any]) -> str:
    """The page of ``report`` (its ``comparison`` holds the previous run's side)."""
    comparison = report.get("comparison")
    title = f"Run {report['spider']}/{report['run_id']}"
    scope = ", ".join(f"{k}={v}" for k, v in (report.get("scope") or {}).items() if v) or "none"
    duration = report.get("duration_seconds") or 0.0
    meta = (
        f"<p class='meta'>Started {escape(str(report.get('started_at')))}, "
        f"{duration:.1f} s, {report.get('records_per_second')} records/s, "
        f"{report.get('requests', 0):,} requests ({report.get('retries', 0):,} retries, "
        f"{report.get('responses_429', 0):,} answered 429); finish reason "
        f"{escape(str(report.get('finish_reason')))}; scope: {escape(scope)}.</p>"
    )
    failures = report["failures"]["by_reason"]
    body = "".join(
        [
            f"<h1>{escape(title)}</h1>",
            meta,
            verdict(report),
            "<h2>Records</h2>",
            records_table(report),
            "<h2>Field coverage</h2>",
            "<p class='meta'>Share of the validated items (valid and rejected) whose field "
            "is not empty.</p>",
            coverage_tables(report, comparison),
            "<h2>Top reject reasons</h2>",
            reasons_table(report["items"]["rejected_by_reason"], "rejected items"),
            "<h2>Top failure reasons</h2>",
            reasons_table(failures, "failed records"),
            "<h2>Records per second</h2>",
            rate_plot(report.get("rate_samples") or []),
            "<h2>Compared with the previous complete run</h2>",
            comparison_section(report, comparison),
        ]
    )
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{CSS}</style></head>"
        f"<body>{body}</body></html>\n"
    )
