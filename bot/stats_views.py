"""The weekly statistics as people and programs receive them: a message, JSON, CSV, XLSX
and a chart. Everything is rendered from one computed `WeeklyReport` (bot/stats.py)."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from bot.clock import from_epoch
from bot.closures import ClosureKind
from bot.i18n import Html, plain, text
from bot.labels import CLOSURE_KEYS
from bot.stats import (
    OVERDUE_BUCKETS,
    Figures,
    GroupFigures,
    IssueRow,
    SummonsRow,
    WeeklyReport,
    is_overdue,
    parse_week,
    week_bounds,
)
from bot.views import Names, duration, rating_name, state_name

TREND_WEEKS = 8


def _percent(lang: str, value: float | None) -> str:
    return plain(lang, "st_none") if value is None else f"{value * 100:.0f}%"


def _signed(delta: float) -> str:
    return f"{delta:+.0f}"


def _change_points(lang: str, now: float | None, before: float | None) -> str:
    """（较上周 +5 个百分点）, （与上周持平）, or nothing when a week has no rate."""
    if now is None or before is None:
        return ""
    points = round((now - before) * 100)
    phrase = (
        plain(lang, "st_vs_points", delta=_signed(points)) if points else plain(lang, "st_vs_same")
    )
    return plain(lang, "st_change", change=phrase)


def _versus(lang: str, now: int, before: int) -> str:
    """较上周 +2, or 与上周持平."""
    if now == before:
        return plain(lang, "st_vs_same")
    return plain(lang, "st_vs_count", delta=_signed(now - before))


def _rate(lang: str, value: float | None) -> str:
    return "" if value is None else plain(lang, "st_rate", rate=_percent(lang, value))


def _span(lang: str, seconds: int | None) -> str:
    return plain(lang, "st_none") if seconds is None else duration(lang, timedelta(seconds=seconds))


def _month(lang: str, month: int) -> str:
    return plain(lang, "month_names").split(",")[month - 1]


def day_in_words(lang: str, day: date) -> str:
    """11 月 23 日 / 23 November."""
    return plain(lang, "st_date", month=_month(lang, day.month), day=day.day)


def moment_in_words(lang: str, instant: datetime, zone: ZoneInfo) -> str:
    """11 月 30 日 09:00 in the street's time zone."""
    local = instant.astimezone(zone)
    return plain(lang, "st_moment", date=day_in_words(lang, local.date()), time=f"{local:%H:%M}")


def week_in_words(lang: str, label: str, zone: ZoneInfo) -> str:
    """2026-W48 → 2026 年第 48 周（11 月 23 日—29 日）; the ISO label stays in files and on
    the command line."""
    year, number = parse_week(label)
    starts, ends = week_bounds(label, zone)
    first, last = starts.date(), (ends - timedelta(days=1)).date()
    if first.month == last.month:
        span = plain(
            lang, "st_span_month", month=_month(lang, first.month), start=first.day, end=last.day
        )
    else:
        span = plain(lang, "st_span", start=day_in_words(lang, first), end=day_in_words(lang, last))
    return plain(lang, "st_week", year=year, number=number, span=span)


OVERDUE_BUCKET_KEYS = {
    "0-1d": "st_bucket_0_1d",
    "1-3d": "st_bucket_1_3d",
    "3-7d": "st_bucket_3_7d",
    ">7d": "st_bucket_over_7d",
}
"""The catalogue key for each of bot/stats.py's OVERDUE_BUCKETS."""


def _department(lang: str, names: Names, code: str | None) -> str:
    return names.department(code) if code else plain(lang, "nobody")


def report_text(lang: str, report: WeeklyReport, names: Names, zone: ZoneInfo, scope: str) -> Html:
    """The weekly message: the street's figures, then overdue issues, closures, 挂账, the
    whistles and the departments' ranking."""
    now, before = report.overall.current, report.overall.previous
    lines = [
        text(
            lang,
            "st_title",
            week=week_in_words(lang, report.week, zone),
            scope=scope,
            as_of=moment_in_words(lang, report.as_of, zone),
        ),
        text(
            lang,
            "st_received",
            n=now.received,
            change=plain(lang, "st_change", change=_versus(lang, now.received, before.received)),
        ),
        *_rate_lines(lang, now, before),
        *_time_lines(lang, now),
        *_overdue_lines(lang, report, names, zone),
        *_count_lines(lang, report),
        *_extension_lines(lang, report, zone),
        *_whistle_lines(lang, report, names),
        *_ranking_lines(lang, report, names),
    ]
    return Html("\n".join(lines))


def _rate_lines(lang: str, now: Figures, before: Figures) -> list[Html]:
    return [
        text(
            lang,
            message,
            value=_percent(lang, getattr(now, key)),
            change=_change_points(lang, getattr(now, key), getattr(before, key)),
        )
        for key, message in (
            ("response_rate", "st_response_rate"),
            ("on_time_response_rate", "st_on_time_response_rate"),
            ("resolution_rate", "st_resolution_rate"),
            ("on_time_resolution_rate", "st_on_time_resolution_rate"),
            ("on_time_resolution_rate_original", "st_on_time_resolution_rate_original"),
            ("satisfaction_rate", "st_satisfaction_rate"),
        )
    ]


def _time_lines(lang: str, now: Figures) -> list[Html]:
    lines: list[Html] = []
    if now.ack_median is None:
        lines.append(text(lang, "st_ack_time_none", waiting=now.not_acknowledged))
    else:
        lines.append(
            text(
                lang,
                "st_ack_time",
                median=_span(lang, now.ack_median),
                p90=_span(lang, now.ack_p90),
                waiting=now.not_acknowledged,
            )
        )
    if now.resolve_median is None:
        lines.append(text(lang, "st_resolve_time_none"))
    else:
        lines.append(
            text(
                lang,
                "st_resolve_time",
                median=_span(lang, now.resolve_median),
                p90=_span(lang, now.resolve_p90),
            )
        )
    return lines


def _overdue_lines(lang: str, report: WeeklyReport, names: Names, zone: ZoneInfo) -> list[Html]:
    now, before = report.overall.current, report.overall.previous
    lines: list[Html] = []
    overdue_change = plain(lang, "st_change", change=_versus(lang, now.overdue, before.overdue))
    if now.overdue_open:
        buckets = plain(lang, "st_list_separator").join(
            plain(lang, OVERDUE_BUCKET_KEYS[name], n=now.overdue_buckets.get(name, 0))
            for name, _, _ in OVERDUE_BUCKETS
        )
        lines.append(
            text(
                lang,
                "st_overdue",
                n=now.overdue,
                open=now.overdue_open,
                buckets=buckets,
                change=overdue_change,
            )
        )
    else:
        lines.append(text(lang, "st_overdue_no_open", n=now.overdue, change=overdue_change))
    for row in report.oldest_overdue[:5]:
        lines.append(
            text(
                lang,
                "st_overdue_line",
                id=row.id,
                category=names.category(row.category),
                department=_department(lang, names, row.department),
                reported=moment_in_words(lang, from_epoch(row.reported_at), zone),
            )
        )
    return lines


def _count_lines(lang: str, report: WeeklyReport) -> list[Html]:
    now, before = report.overall.current, report.overall.previous
    lines = [
        text(
            lang,
            message,
            n=getattr(now, key),
            rate=_rate(lang, getattr(now, f"{key}_rate")),
            change=_versus(lang, getattr(now, key), getattr(before, key)),
        )
        for key, message in (
            ("reopened", "st_reopened"),
            ("escalated", "st_escalated"),
            ("transferred", "st_transferred"),
        )
    ]
    if any(report.closures.values()):
        lines.append(
            text(
                lang,
                "st_closures",
                **{k: report.closures.get(k, 0) for k in ("invalid", "duplicate", "elsewhere")},
            )
        )
    return lines


def _extension_lines(lang: str, report: WeeklyReport, zone: ZoneInfo) -> list[Html]:
    """extensions and 挂账"""
    ext = report.extensions
    lines = [
        text(
            lang,
            "st_extensions",
            requested=ext.requested,
            approved=ext.approved,
            held=ext.held_at_end,
        )
    ]
    if ext.held_now:
        lines.append(text(lang, "st_held_header", n=len(ext.held_now)))
    for held in ext.held_now[:10]:
        lines.append(
            text(
                lang,
                "st_held_line",
                id=held.id,
                reason=held.reason,
                review=from_epoch(held.review_at).astimezone(zone).strftime("%m-%d"),
            )
        )
    return lines


def _whistle_lines(lang: str, report: WeeklyReport, names: Names) -> list[Html]:
    """联合吹哨: the summonses, overall and per summoned department."""
    now = report.overall.current
    if not now.whistles:
        return []
    lines = [
        text(
            lang,
            "st_whistles",
            n=now.whistles,
            arrived=now.arrived,
            on_time=now.arrived_on_time,
            rate=_percent(lang, now.on_site_rate),
            median=_span(lang, now.arrive_median),
            p90=_span(lang, now.arrive_p90),
            satisfaction=_percent(lang, now.street_satisfaction_rate),
            rated=now.street_rated,
        )
    ]
    for group in report.departments:
        f = group.current
        if f.whistles:
            lines.append(
                text(
                    lang,
                    "st_whistle_department_line",
                    name=names.department(group.key),
                    n=f.whistles,
                    rate=_percent(lang, f.on_site_rate),
                    median=_span(lang, f.arrive_median),
                    satisfaction=_percent(lang, f.street_satisfaction_rate),
                )
            )
    return lines


def _ranking_lines(lang: str, report: WeeklyReport, names: Names) -> list[Html]:
    if len(report.departments) <= 1:
        return []
    lines = [text(lang, "st_ranking")]
    for rank, group in enumerate(report.departments, start=1):
        f = group.current
        lines.append(
            text(
                lang,
                "st_department_line",
                rank=rank,
                name=_department(lang, names, group.key),
                received=f.received,
                ack=_percent(lang, f.on_time_response_rate),
                resolved=_percent(lang, f.on_time_resolution_rate),
                satisfied=_percent(lang, f.satisfaction_rate),
            )
        )
    return lines


DURATION_FIELDS: dict[str, str] = {
    "ack_median": "ack_median_seconds",
    "ack_p90": "ack_p90_seconds",
    "resolve_median": "resolve_median_seconds",
    "resolve_p90": "resolve_p90_seconds",
    "arrive_median": "arrive_median_seconds",
    "arrive_p90": "arrive_p90_seconds",
}
"""Each duration's name in the JSON figures (in seconds)."""


def _figures_json(f: Figures, previous: Figures) -> dict[str, Any]:
    body: dict[str, Any] = {name: getattr(f, name) for name in Figures.COUNTS}
    body.update({name: getattr(f, name) for name in Figures.RATES})
    body.update({DURATION_FIELDS[name]: getattr(f, name) for name in Figures.DURATIONS})
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
        "as_of": report.as_of.astimezone(report.starts.tzinfo).isoformat(),
        "overall": _figures_json(report.overall.current, report.overall.previous),
        "departments": groups(report.departments, names.department),
        "members": groups(report.members, lambda k: names.person(int(k))),
        "grids": groups(report.grids, names.grid),
        "categories": groups(report.categories, names.category),
        "oldest_overdue": [row.id for row in report.oldest_overdue],
        "closures": dict(report.closures),
        "extensions": {
            "requested": report.extensions.requested,
            "approved": report.extensions.approved,
            "held_at_end": report.extensions.held_at_end,
            "held": [
                {"id": h.id, "reason": h.reason, "review_at": from_epoch(h.review_at).isoformat()}
                for h in report.extensions.held_now
            ],
        },
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
    "state_name",
    "urgent",
    "dispatched_at",
    "acknowledged_at",
    "ack_deadline",
    "acknowledged_on_time",
    "resolved_at",
    "resolve_deadline",
    "resolved_on_time",
    "rating",
    "rating_name",
    "overdue",
    "reopened",
    "escalated",
    "transferred",
    "ack_seconds_from_report",
    "ack_seconds_from_dispatch",
    "resolve_seconds_from_report",
    "resolve_seconds_from_dispatch",
    "original_resolve_deadline",
    "closure",
    "closure_name",
)
"""The per-issue columns; each is headed in the reader's language by its `col_` catalogue
entry (`ISSUE_HEADERS`). Codes and names have columns of their own."""
ISSUE_HEADERS: dict[str, str] = {
    "id": "col_id",
    "reported_at": "col_reported_at",
    "grid": "col_grid",
    "grid_name": "col_grid_name",
    "category": "col_category",
    "category_name": "col_category_name",
    "department": "col_department",
    "department_name": "col_department_name",
    "assignee": "col_assignee",
    "assignee_name": "col_assignee_name",
    "state": "col_state",
    "state_name": "col_state_name",
    "urgent": "col_urgent",
    "dispatched_at": "col_dispatched_at",
    "acknowledged_at": "col_acknowledged_at",
    "ack_deadline": "col_ack_deadline",
    "acknowledged_on_time": "col_acknowledged_on_time",
    "resolved_at": "col_resolved_at",
    "resolve_deadline": "col_resolve_deadline",
    "resolved_on_time": "col_resolved_on_time",
    "rating": "col_rating",
    "rating_name": "col_rating_name",
    "overdue": "col_overdue",
    "reopened": "col_reopened",
    "escalated": "col_escalated",
    "transferred": "col_transferred",
    "ack_seconds_from_report": "col_ack_seconds_from_report",
    "ack_seconds_from_dispatch": "col_ack_seconds_from_dispatch",
    "resolve_seconds_from_report": "col_resolve_seconds_from_report",
    "resolve_seconds_from_dispatch": "col_resolve_seconds_from_dispatch",
    "original_resolve_deadline": "col_original_resolve_deadline",
    "closure": "col_closure",
    "closure_name": "col_closure_name",
}

MOMENT_COLUMNS = frozenset(
    {
        "reported_at",
        "dispatched_at",
        "acknowledged_at",
        "ack_deadline",
        "resolved_at",
        "resolve_deadline",
        "original_resolve_deadline",
    }
)
NAME_COLUMNS = frozenset(
    {
        "grid_name",
        "category_name",
        "department_name",
        "assignee_name",
        "state_name",
        "closure_name",
    }
)


def issue_header(lang: str) -> list[str]:
    return [plain(lang, ISSUE_HEADERS[column]) for column in ISSUE_COLUMNS]


def issue_rows(
    report: WeeklyReport, rows: Iterable[IssueRow], names: Names, zone: ZoneInfo, lang: str
) -> Iterator[list[Any]]:
    """The per-issue rows behind the figures: enough to recompute every one of them. Made
    one at a time as the files are written, so a week's rows are never all held as text.
    Moments are date-times in the street's time zone (or "" when there is none)."""
    as_of = int(report.as_of.timestamp())
    for r in rows:
        yield _issue_row(r, as_of, names, zone, lang)


def _moment(value: int | None, zone: ZoneInfo) -> datetime | str:
    return "" if value is None else from_epoch(value).astimezone(zone)


def _since(end: int | None, start: int | None) -> int | str:
    return "" if end is None or start is None else end - start


def _by(done: int | None, deadline: int | None) -> int:
    """1 when `done` came by `deadline`, else 0 (also when either is missing)."""
    return int(done is not None and deadline is not None and done <= deadline)


def _issue_row(r: IssueRow, as_of: int, names: Names, zone: ZoneInfo, lang: str) -> list[Any]:
    """One issue's row, in ISSUE_COLUMNS' order."""
    resolved = r.resolved_at if r.state in ("resolved", "closed") else None
    return [
        r.id,
        _moment(r.reported_at, zone),
        r.grid,
        names.grid(r.grid),
        r.category,
        names.category(r.category),
        r.department or "",
        names.department(r.department) if r.department else "",
        r.assignee or "",
        names.person(r.assignee) if r.assignee else "",
        r.state,
        state_name(lang, r.state),
        int(r.urgent),
        _moment(r.dispatched_at, zone),
        _moment(r.acknowledged_at, zone),
        _moment(r.ack_deadline, zone),
        _by(r.acknowledged_at, r.ack_deadline),
        _moment(resolved, zone),
        _moment(r.resolve_deadline, zone),
        _by(resolved, r.resolve_deadline),
        r.rating or "",
        rating_name(lang, r.rating) if r.rating else "",
        int(is_overdue(r, as_of)),
        int(r.reopened),
        int(r.escalated),
        int(r.transferred),
        _since(r.acknowledged_at, r.reported_at),
        _since(r.acknowledged_at, r.dispatched_at),
        _since(resolved, r.reported_at),
        _since(resolved, r.dispatched_at),
        _moment(r.original_resolve_deadline, zone),
        r.closure or "",
        plain(lang, CLOSURE_KEYS[ClosureKind(r.closure)]) if r.closure else "",
    ]


CSV_MOMENT = "%Y-%m-%d %H:%M:%S"
"""Local time as spreadsheet programs read it as a date-time (the offset would make it text)."""


def report_csv(
    report: WeeklyReport, rows: Iterable[IssueRow], names: Names, zone: ZoneInfo, lang: str
) -> bytes:
    buffer = io.BytesIO()
    # Encoded as it is written (with the BOM spreadsheet programs need to read UTF-8), so
    # the text of the whole file is never held besides its bytes.
    with io.TextIOWrapper(buffer, encoding="utf-8-sig", newline="", write_through=True) as out:
        writer = csv.writer(out)
        writer.writerow(issue_header(lang))
        writer.writerows(
            [v.strftime(CSV_MOMENT) if isinstance(v, datetime) else v for v in row]
            for row in issue_rows(report, rows, names, zone, lang)
        )
        out.flush()
        return buffer.getvalue()


# 联合吹哨: one row per issue and summoned department (sheet or file "whistles")
WHISTLE_COLUMNS = (
    "issue",
    "department",
    "department_name",
    "lead",
    "summoned_at",
    "arrive_deadline",
    "arrived_at",
    "arrived_by",
    "arrived_by_name",
    "arrive_seconds",
    "distance_meters",
    "arrived_on_time",
    "street_rating",
    "street_rating_name",
    "street_reason",
)
"""Each headed in the reader's language by its `wcol_` catalogue entry."""
WHISTLE_MOMENTS = frozenset({"summoned_at", "arrive_deadline", "arrived_at"})


WHISTLE_HEADERS: dict[str, str] = {
    "issue": "wcol_issue",
    "department": "wcol_department",
    "department_name": "wcol_department_name",
    "lead": "wcol_lead",
    "summoned_at": "wcol_summoned_at",
    "arrive_deadline": "wcol_arrive_deadline",
    "arrived_at": "wcol_arrived_at",
    "arrived_by": "wcol_arrived_by",
    "arrived_by_name": "wcol_arrived_by_name",
    "arrive_seconds": "wcol_arrive_seconds",
    "distance_meters": "wcol_distance_meters",
    "arrived_on_time": "wcol_arrived_on_time",
    "street_rating": "wcol_street_rating",
    "street_rating_name": "wcol_street_rating_name",
    "street_reason": "wcol_street_reason",
}


def whistle_header(lang: str) -> list[str]:
    return [plain(lang, WHISTLE_HEADERS[column]) for column in WHISTLE_COLUMNS]


def whistle_rows(
    rows: Iterable[SummonsRow], names: Names, zone: ZoneInfo, lang: str
) -> Iterator[list[Any]]:
    """The summonses behind the whistle figures, one per issue and summoned department
    (released ones are not summonses): enough to recompute each of them."""

    def moment(value: int | None) -> datetime | str:
        return "" if value is None else from_epoch(value).astimezone(zone)

    for r in rows:
        yield [
            r.issue_id,
            r.department,
            names.department(r.department),
            int(r.lead),
            moment(r.summoned_at),
            moment(r.arrive_deadline),
            moment(r.arrived_at),
            r.arrived_by or "",
            names.person(r.arrived_by) if r.arrived_by else "",
            "" if r.arrived_at is None else r.arrived_at - r.summoned_at,
            "" if r.arrived_meters is None else r.arrived_meters,
            int(r.on_time),
            r.street_rating or "",
            rating_name(lang, r.street_rating) if r.street_rating else "",
            r.street_reason or "",
        ]


def whistles_csv(rows: Iterable[SummonsRow], names: Names, zone: ZoneInfo, lang: str) -> bytes:
    """The "whistles" file: `whistle_rows` as CSV (UTF-8 with a BOM, like the issues')."""
    buffer = io.BytesIO()
    with io.TextIOWrapper(buffer, encoding="utf-8-sig", newline="", write_through=True) as out:
        writer = csv.writer(out)
        writer.writerow(whistle_header(lang))
        writer.writerows(
            [v.strftime(CSV_MOMENT) if isinstance(v, datetime) else v for v in row]
            for row in whistle_rows(rows, names, zone, lang)
        )
        out.flush()
        return buffer.getvalue()


SUMMARY_COLUMNS = (
    "group",
    "key",
    "name",
    *Figures.COUNTS,
    *Figures.RATES,
    *Figures.DURATIONS,
)
SUMMARY_HEADERS: dict[str, str] = {
    "group": "sum_group",
    "key": "sum_key",
    "name": "sum_name",
    "received": "sum_received",
    "acknowledged": "sum_acknowledged",
    "acknowledged_on_time": "sum_acknowledged_on_time",
    "not_acknowledged": "sum_not_acknowledged",
    "resolved": "sum_resolved",
    "resolved_on_time": "sum_resolved_on_time",
    "resolved_on_time_original": "sum_resolved_on_time_original",
    "rated": "sum_rated",
    "satisfied": "sum_satisfied",
    "overdue": "sum_overdue",
    "overdue_open": "sum_overdue_open",
    "reopened": "sum_reopened",
    "escalated": "sum_escalated",
    "transferred": "sum_transferred",
    "excluded": "sum_excluded",
    "whistles": "sum_whistles",
    "arrived": "sum_arrived",
    "arrived_on_time": "sum_arrived_on_time",
    "street_rated": "sum_street_rated",
    "street_satisfied": "sum_street_satisfied",
    "response_rate": "sum_response_rate",
    "on_time_response_rate": "sum_on_time_response_rate",
    "resolution_rate": "sum_resolution_rate",
    "on_time_resolution_rate": "sum_on_time_resolution_rate",
    "on_time_resolution_rate_original": "sum_on_time_resolution_rate_original",
    "satisfaction_rate": "sum_satisfaction_rate",
    "reopened_rate": "sum_reopened_rate",
    "escalated_rate": "sum_escalated_rate",
    "transferred_rate": "sum_transferred_rate",
    "on_site_rate": "sum_on_site_rate",
    "street_satisfaction_rate": "sum_street_satisfaction_rate",
    "ack_median": "sum_ack_median",
    "ack_p90": "sum_ack_p90",
    "resolve_median": "sum_resolve_median",
    "resolve_p90": "sum_resolve_p90",
    "arrive_median": "sum_arrive_median",
    "arrive_p90": "sum_arrive_p90",
}
GROUP_NAMES: dict[str, str] = {
    "overall": "st_group_overall",
    "department": "st_group_department",
    "member": "st_group_member",
    "grid": "st_group_grid",
    "category": "st_group_category",
}


def _summary_rows(report: WeeklyReport, names: Names, lang: str) -> list[list[Any]]:
    rows: list[list[Any]] = [[plain(lang, SUMMARY_HEADERS[column]) for column in SUMMARY_COLUMNS]]

    def add(kind: str, group: GroupFigures, name: str) -> None:
        f = group.current
        rows.append(
            [
                plain(lang, GROUP_NAMES[kind]),
                group.key,
                name,
                *(getattr(f, c) for c in Figures.COUNTS),
                *(getattr(f, r) for r in Figures.RATES),
                *(getattr(f, d) for d in Figures.DURATIONS),
            ]
        )

    add("overall", report.overall, plain(lang, "st_scope_all"))
    for g in report.departments:
        add("department", g, _department(lang, names, g.key))
    for g in report.members:
        add("member", g, names.person(int(g.key)))
    for g in report.grids:
        add("grid", g, names.grid(g.key))
    for g in report.categories:
        add("category", g, names.category(g.key))
    return rows


def _text_width(value: str) -> int:
    """Columns a spreadsheet needs for a text: CJK characters take two."""
    return sum(2 if ord(c) > 0x2E80 else 1 for c in value)


def _column_width(column: str, header: str) -> float:
    if column in MOMENT_COLUMNS:
        content = 17
    elif column in NAME_COLUMNS:
        content = 16
    else:
        content = 8
    return max(content, _text_width(header)) + 2


def report_xlsx(
    report: WeeklyReport,
    rows: Iterable[IssueRow],
    names: Names,
    zone: ZoneInfo,
    lang: str,
    whistles: Sequence[SummonsRow] = (),
) -> bytes:
    """Two sheets, summary and issues, headed in the reader's language, with the header row
    frozen; moments are real date-time cells in the street's time zone. With `whistles`
    (联合吹哨's summonses), a third sheet lists them."""
    import xlsxwriter

    buffer = io.BytesIO()
    # Rows go to a temporary file as they are written, not into memory: a week with
    # thousands of issues would otherwise hold every cell until the file is closed.
    workbook = xlsxwriter.Workbook(buffer, {"constant_memory": True})
    bold = workbook.add_format({"bold": True})
    when = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    percent = workbook.add_format({"num_format": "0%"})

    summary = workbook.add_worksheet(plain(lang, "st_sheet_summary"))
    summary.freeze_panes(1, 0)
    for x, column in enumerate(SUMMARY_COLUMNS):
        header = plain(lang, SUMMARY_HEADERS[column])
        wide = 16 if column == "name" else 8
        summary.set_column(x, x, max(wide, _text_width(header)) + 2)
    rates = {SUMMARY_COLUMNS.index(r) for r in Figures.RATES}
    for y, row in enumerate(_summary_rows(report, names, lang)):
        for x, value in enumerate(row):
            summary.write(y, x, value, bold if y == 0 else percent if x in rates else None)

    issues = workbook.add_worksheet(plain(lang, "st_sheet_issues"))
    issues.freeze_panes(1, 0)
    headers = issue_header(lang)
    for x, column in enumerate(ISSUE_COLUMNS):
        issues.set_column(x, x, _column_width(column, headers[x]))
    issues.write_row(0, 0, headers, bold)
    for y, row in enumerate(issue_rows(report, rows, names, zone, lang), start=1):
        for x, value in enumerate(row):
            if isinstance(value, datetime):
                issues.write_datetime(y, x, value.replace(tzinfo=None), when)
            else:
                issues.write(y, x, value)
    if whistles:
        _whistle_sheet(workbook, whistles, names, zone, lang, bold, when)
    workbook.close()
    return buffer.getvalue()


def _whistle_sheet(
    workbook: Any,
    whistles: Sequence[SummonsRow],
    names: Names,
    zone: ZoneInfo,
    lang: str,
    bold: Any,
    when: Any,
) -> None:
    """联合吹哨: the "whistles" sheet, one row per issue and summoned department."""
    sheet = workbook.add_worksheet(plain(lang, "st_sheet_whistles"))
    sheet.freeze_panes(1, 0)
    headers = whistle_header(lang)
    for x, column in enumerate(WHISTLE_COLUMNS):
        wide = 17 if column in WHISTLE_MOMENTS else 14 if column.endswith("name") else 8
        sheet.set_column(x, x, max(wide, _text_width(headers[x])) + 2)
    sheet.write_row(0, 0, headers, bold)
    for y, row in enumerate(whistle_rows(whistles, names, zone, lang), start=1):
        for x, value in enumerate(row):
            if isinstance(value, datetime):
                sheet.write_datetime(y, x, value.replace(tzinfo=None), when)
            else:
                sheet.write(y, x, value)


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


def trend_rates(trend: Sequence[tuple[str, Figures]], key: str) -> list[float]:
    """A rate per week in percent for the trend lines; a week without the rate (nothing
    reported, accepted or rated) is a gap (NaN), not 0 %."""
    values = (getattr(f, key) for _, f in trend)
    return [math.nan if v is None else v * 100 for v in values]


def report_chart(
    report: WeeklyReport,
    trend: Sequence[tuple[str, Figures]],
    names: Names,
    lang: str,
) -> bytes:
    """Departments side by side (with 联合吹哨's on-site rate where the week had whistles),
    and the last weeks' trend. With no CJK font installed the labels fall back to codes
    and English, so the picture stays readable."""
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
        _department_bars(left, report, names, label_lang, font is not None)
        _trend_lines(right, trend, label_lang)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        plt.close(figure)
    return buffer.getvalue()


def chart_series(report: WeeklyReport) -> list[tuple[str, list[float]]]:
    """The department chart's series: (catalogue key of its label, percent per department
    in `report.departments`' order). 联合吹哨's on-site rate (arrived on time ÷ summoned)
    is one of them when any department was summoned that week."""
    departments = report.departments
    series = [
        (
            "st_chart_on_time_ack",
            [(g.current.on_time_response_rate or 0) * 100 for g in departments],
        ),
        (
            "st_chart_on_time_resolve",
            [(g.current.on_time_resolution_rate or 0) * 100 for g in departments],
        ),
    ]
    if any(g.current.whistles for g in departments):
        series.append(
            ("st_chart_on_site", [(g.current.on_site_rate or 0) * 100 for g in departments])
        )
    return series


def _department_bars(
    axes: Any, report: WeeklyReport, names: Names, label_lang: str, named: bool
) -> None:
    departments = report.departments
    labels = [names.department(g.key) if named else (g.key or "-") for g in departments]
    positions = range(len(departments))
    series = chart_series(report)
    width = 0.76 / len(series)
    for index, (key, values) in enumerate(series):
        offset = (index - (len(series) - 1) / 2) * width
        axes.bar([p + offset for p in positions], values, width, label=plain(label_lang, key))
    axes.set_xticks(list(positions), labels, rotation=30, ha="right")
    axes.set_ylim(0, 105)
    axes.set_ylabel(plain(label_lang, "st_chart_percent"))
    zone = cast(ZoneInfo, report.starts.tzinfo)
    week = week_in_words(label_lang, report.week, zone)
    axes.set_title(plain(label_lang, "st_chart_departments", week=week))
    axes.legend(loc="lower right")


def _trend_lines(axes: Any, trend: Sequence[tuple[str, Figures]], label_lang: str) -> None:
    from matplotlib.ticker import MaxNLocator

    weeks = [plain(label_lang, "st_chart_week", number=parse_week(w)[1]) for w, _ in trend]
    axes.bar(
        weeks,
        [f.received for _, f in trend],
        color="#dddddd",
        label=plain(label_lang, "st_chart_received"),
    )
    axes.set_ylabel(plain(label_lang, "st_chart_count"))
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    rates = axes.twinx()
    for key, label in (
        ("response_rate", "st_chart_response"),
        ("resolution_rate", "st_chart_resolution"),
        ("satisfaction_rate", "st_chart_satisfaction"),
    ):
        rates.plot(weeks, trend_rates(trend, key), marker="o", label=plain(label_lang, label))
    rates.set_ylim(0, 105)
    rates.set_ylabel(plain(label_lang, "st_chart_percent"))
    rates.legend(loc="lower left")
    axes.set_title(plain(label_lang, "st_chart_trend", weeks=len(trend)))
    axes.tick_params(axis="x", rotation=30)
