"""The weekly statistics as people and programs receive them: a message, JSON, CSV, XLSX
and a chart. Everything is rendered from one computed `WeeklyReport` (bot/stats.py)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from datetime import timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from bot.clock import from_epoch
from bot.i18n import Html, plain, text
from bot.stats import OVERDUE_BUCKETS, Figures, GroupFigures, IssueRow, WeeklyReport, is_overdue
from bot.views import Names, duration

TREND_WEEKS = 8


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def _change_points(now: float | None, before: float | None) -> str:
    if now is None or before is None:
        return ""
    points = (now - before) * 100
    return f"（{points:+.0f}pt）" if abs(points) >= 0.5 else "（±0）"


def _change_count(now: int, before: int) -> str:
    return f"（{now - before:+d}）" if now != before else "（±0）"


def _span(lang: str, seconds: int | None) -> str:
    if seconds is None:
        return "-"
    return duration(lang, timedelta(seconds=seconds))


def report_text(lang: str, report: WeeklyReport, names: Names, zone: ZoneInfo, scope: str) -> Html:
    now, before = report.overall.current, report.overall.previous
    lines = [
        text(
            lang,
            "st_title",
            week=report.week,
            scope=scope,
            start=report.starts.astimezone(zone).strftime("%m-%d"),
            end=(report.ends - timedelta(seconds=1)).astimezone(zone).strftime("%m-%d"),
            as_of=report.as_of.astimezone(zone).strftime("%m-%d %H:%M"),
        ),
        text(
            lang, "st_received", n=now.received, change=_change_count(now.received, before.received)
        ),
    ]
    for key in (
        "response_rate",
        "on_time_response_rate",
        "resolution_rate",
        "on_time_resolution_rate",
        "satisfaction_rate",
    ):
        value, previous = getattr(now, key), getattr(before, key)
        lines.append(
            text(lang, f"st_{key}", value=_percent(value), change=_change_points(value, previous))
        )
    lines.append(
        text(
            lang,
            "st_ack_time",
            median=_span(lang, now.ack_median),
            p90=_span(lang, now.ack_p90),
            waiting=now.not_acknowledged,
        )
    )
    lines.append(
        text(
            lang,
            "st_resolve_time",
            median=_span(lang, now.resolve_median),
            p90=_span(lang, now.resolve_p90),
        )
    )
    buckets = " ".join(
        f"{name} {now.overdue_buckets.get(name, 0)}" for name, _, _ in OVERDUE_BUCKETS
    )
    lines.append(
        text(
            lang,
            "st_overdue",
            n=now.overdue,
            open=now.overdue_open,
            buckets=buckets,
            change=_change_count(now.overdue, before.overdue),
        )
    )
    for row in report.oldest_overdue[:5]:
        lines.append(
            text(
                lang,
                "st_overdue_line",
                id=row.id,
                category=names.category(row.category),
                department=names.department(row.department),
                reported=from_epoch(row.reported_at).astimezone(zone).strftime("%m-%d %H:%M"),
            )
        )
    for key in ("reopened", "escalated", "transferred"):
        lines.append(
            text(
                lang,
                f"st_{key}",
                n=getattr(now, key),
                rate=_percent(getattr(now, f"{key}_rate")),
                change=_change_count(getattr(now, key), getattr(before, key)),
            )
        )
    # 联合吹哨: the summonses, overall and per summoned department
    if now.whistles:
        lines.append(
            text(
                lang,
                "st_whistles",
                n=now.whistles,
                arrived=now.arrived,
                on_time=now.arrived_on_time,
                rate=_percent(now.on_site_rate),
                median=_span(lang, now.arrive_median),
                p90=_span(lang, now.arrive_p90),
                satisfaction=_percent(now.street_satisfaction_rate),
                rated=now.street_rated,
            )
        )
        for group in report.departments:
            f = group.current
            if f.whistles:
                lines.append(
                    text(
                        lang,
                        "st_whistle_department_line",
                        name=names.department(group.key),
                        n=f.whistles,
                        rate=_percent(f.on_site_rate),
                        median=_span(lang, f.arrive_median),
                        satisfaction=_percent(f.street_satisfaction_rate),
                    )
                )
    if len(report.departments) > 1:
        lines.append(text(lang, "st_ranking"))
        for rank, group in enumerate(report.departments, start=1):
            f = group.current
            lines.append(
                text(
                    lang,
                    "st_department_line",
                    rank=rank,
                    name=names.department(group.key),
                    received=f.received,
                    ack=_percent(f.on_time_response_rate),
                    resolved=_percent(f.on_time_resolution_rate),
                    satisfied=_percent(f.satisfaction_rate),
                )
            )
    return Html("\n".join(lines))


def _figures_json(f: Figures, previous: Figures) -> dict[str, Any]:
    body: dict[str, Any] = {name: getattr(f, name) for name in Figures.COUNTS}
    body.update({name: getattr(f, name) for name in Figures.RATES})
    body.update({f"{name}_seconds": getattr(f, name) for name in Figures.DURATIONS})
    body["overdue_open_buckets"] = dict(f.overdue_buckets)
    body["previous"] = {name: getattr(previous, name) for name in (*Figures.COUNTS, *Figures.RATES)}
    return body


def report_json(report: WeeklyReport, names: Names) -> dict[str, Any]:
    """The JSON form (keys documented in README, "Statistics")."""

    def groups(items: Sequence[GroupFigures], label: Any) -> list[dict[str, Any]]:
        return [
            {"key": g.key, "name": label(g.key), **_figures_json(g.current, g.previous)}
            for g in items
        ]

    return {
        "week": report.week,
        "starts": report.starts.isoformat(),
        "ends": report.ends.isoformat(),
        "as_of": report.as_of.isoformat(),
        "overall": _figures_json(report.overall.current, report.overall.previous),
        "departments": groups(report.departments, names.department),
        "members": groups(report.members, lambda k: names.person(int(k))),
        "grids": groups(report.grids, names.grid),
        "categories": groups(report.categories, names.category),
        "oldest_overdue": [row.id for row in report.oldest_overdue],
    }


ISSUE_COLUMNS = (
    "id",
    "reported_at",
    "grid",
    "grid_name",
    "category",
    "category_name",
    "department",
    "department_name",
    "assignee",
    "assignee_name",
    "state",
    "urgent",
    "dispatched_at",
    "acknowledged_at",
    "ack_deadline",
    "acknowledged_on_time",
    "resolved_at",
    "resolve_deadline",
    "resolved_on_time",
    "rating",
    "overdue",
    "reopened",
    "escalated",
    "transferred",
    "ack_seconds_from_report",
    "ack_seconds_from_dispatch",
    "resolve_seconds_from_report",
    "resolve_seconds_from_dispatch",
)


def issue_rows(
    report: WeeklyReport, rows: Iterable[IssueRow], names: Names, zone: ZoneInfo
) -> Iterator[list[Any]]:
    """The per-issue rows behind the figures: enough to recompute every one of them. Made
    one at a time as the files are written, so a week's rows are never all held as text."""
    as_of = int(report.as_of.timestamp())

    def moment(value: int | None) -> str:
        return "" if value is None else from_epoch(value).astimezone(zone).isoformat()

    def since(end: int | None, start: int | None) -> int | str:
        return "" if end is None or start is None else end - start

    for r in rows:
        resolved = r.resolved_at if r.state in ("resolved", "closed") else None
        yield (
            [
                r.id,
                moment(r.reported_at),
                r.grid,
                names.grid(r.grid),
                r.category,
                names.category(r.category),
                r.department or "",
                names.department(r.department),
                r.assignee or "",
                names.person(r.assignee) if r.assignee else "",
                r.state,
                int(r.urgent),
                moment(r.dispatched_at),
                moment(r.acknowledged_at),
                moment(r.ack_deadline),
                int(
                    r.acknowledged_at is not None
                    and r.ack_deadline is not None
                    and r.acknowledged_at <= r.ack_deadline
                ),
                moment(resolved),
                moment(r.resolve_deadline),
                int(
                    resolved is not None
                    and r.resolve_deadline is not None
                    and resolved <= r.resolve_deadline
                ),
                r.rating or "",
                int(is_overdue(r, as_of)),
                int(r.reopened),
                int(r.escalated),
                int(r.transferred),
                since(r.acknowledged_at, r.reported_at),
                since(r.acknowledged_at, r.dispatched_at),
                since(resolved, r.reported_at),
                since(resolved, r.dispatched_at),
            ]
        )


def report_csv(
    report: WeeklyReport, rows: Iterable[IssueRow], names: Names, zone: ZoneInfo
) -> bytes:
    buffer = io.BytesIO()
    # Encoded as it is written (with the BOM spreadsheet programs need to read UTF-8), so
    # the text of the whole file is never held besides its bytes.
    with io.TextIOWrapper(buffer, encoding="utf-8-sig", newline="", write_through=True) as out:
        writer = csv.writer(out)
        writer.writerow(ISSUE_COLUMNS)
        writer.writerows(issue_rows(report, rows, names, zone))
        out.flush()
        return buffer.getvalue()


def _summary_rows(report: WeeklyReport, names: Names) -> list[list[Any]]:
    header = [
        "group",
        "key",
        "name",
        *Figures.COUNTS,
        *Figures.RATES,
        *(f"{d}_seconds" for d in Figures.DURATIONS),
    ]
    rows: list[list[Any]] = [header]

    def add(kind: str, group: GroupFigures, name: str) -> None:
        f = group.current
        rows.append(
            [
                kind,
                group.key,
                name,
                *(getattr(f, c) for c in Figures.COUNTS),
                *(getattr(f, r) for r in Figures.RATES),
                *(getattr(f, d) for d in Figures.DURATIONS),
            ]
        )

    add("overall", report.overall, "")
    for g in report.departments:
        add("department", g, names.department(g.key))
    for g in report.members:
        add("member", g, names.person(int(g.key)))
    for g in report.grids:
        add("grid", g, names.grid(g.key))
    for g in report.categories:
        add("category", g, names.category(g.key))
    return rows


def report_xlsx(
    report: WeeklyReport, rows: Iterable[IssueRow], names: Names, zone: ZoneInfo
) -> bytes:
    import xlsxwriter

    buffer = io.BytesIO()
    # Rows go to a temporary file as they are written, not into memory: a week with
    # thousands of issues would otherwise hold every cell until the file is closed.
    workbook = xlsxwriter.Workbook(buffer, {"constant_memory": True})
    summary = workbook.add_worksheet("summary")
    for y, row in enumerate(_summary_rows(report, names)):
        summary.write_row(y, 0, row)
    issues = workbook.add_worksheet("issues")
    issues.write_row(0, 0, ISSUE_COLUMNS)
    for y, row in enumerate(issue_rows(report, rows, names, zone), start=1):
        issues.write_row(y, 0, row)
    workbook.close()
    return buffer.getvalue()


CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
    "AR PL UMing CN",
)


def _cjk_font() -> str | None:
    from matplotlib import font_manager

    available = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in available), None)


def report_chart(
    report: WeeklyReport,
    trend: Sequence[tuple[str, Figures]],
    names: Names,
    lang: str,
) -> bytes:
    """Departments side by side, and the last weeks' trend. With no CJK font installed the
    labels fall back to codes and English, so the picture stays readable."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    font = _cjk_font()
    chinese = font is not None and lang == "zh"
    label_lang = lang if chinese else "en"
    params: dict[str, Any] = {"axes.unicode_minus": False}
    if font is not None:
        params["font.family"] = [font, "DejaVu Sans"]
    with plt.rc_context(cast(Any, params)):
        figure, (left, right) = plt.subplots(1, 2, figsize=(13, 5.5), dpi=100)
        departments = report.departments
        labels = [names.department(g.key) if font else (g.key or "-") for g in departments]
        positions = range(len(departments))
        width = 0.38
        left.bar(
            [p - width / 2 for p in positions],
            [(g.current.on_time_response_rate or 0) * 100 for g in departments],
            width,
            label=plain(label_lang, "st_chart_on_time_ack"),
        )
        left.bar(
            [p + width / 2 for p in positions],
            [(g.current.on_time_resolution_rate or 0) * 100 for g in departments],
            width,
            label=plain(label_lang, "st_chart_on_time_resolve"),
        )
        left.set_xticks(list(positions), labels, rotation=30, ha="right")
        left.set_ylim(0, 105)
        left.set_ylabel("%")
        left.set_title(plain(label_lang, "st_chart_departments", week=report.week))
        left.legend(loc="lower right")
        weeks = [w for w, _ in trend]
        right.bar(
            weeks,
            [f.received for _, f in trend],
            color="#dddddd",
            label=plain(label_lang, "st_chart_received"),
        )
        right.set_ylabel(plain(label_lang, "st_chart_received"))
        rates = right.twinx()
        for key, label in (
            ("response_rate", "st_chart_response"),
            ("resolution_rate", "st_chart_resolution"),
            ("satisfaction_rate", "st_chart_satisfaction"),
        ):
            rates.plot(
                weeks,
                [(getattr(f, key) or 0) * 100 for _, f in trend],
                marker="o",
                label=plain(label_lang, label),
            )
        rates.set_ylim(0, 105)
        rates.set_ylabel("%")
        rates.legend(loc="lower left")
        right.set_title(plain(label_lang, "st_chart_trend", weeks=len(trend)))
        right.tick_params(axis="x", rotation=30)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        plt.close(figure)
    return buffer.getvalue()
