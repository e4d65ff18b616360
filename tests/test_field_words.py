"""Issue #19: the texts speak like a street office; the weekly report reads in words;
the files are headed in the reader's language with real date-time cells."""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import re
import zipfile
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.i18n import CATALOGUES, strip_markup
from bot.stats import Figures, Grouping, IssueRow, WeeklyReport, weekly_report
from bot.stats_views import (
    ISSUE_COLUMNS,
    report_csv,
    report_json,
    report_text,
    report_xlsx,
    trend_rates,
    week_in_words,
)
from bot.views import Names, duration

SHANGHAI = ZoneInfo("Asia/Shanghai")
NAMES = Names(
    {"cg": "城管执法中队", "zj": "住建办"}, {"env": "环境卫生"}, {"G01": "第一网格"}, {1002: "张伟"}
)
MIN, HOUR, DAY = 60, 3600, 86400


def a_week() -> WeeklyReport:
    now: dict[Grouping, dict[str, Figures]] = {g: {} for g in Grouping}
    before: dict[Grouping, dict[str, Figures]] = {g: {} for g in Grouping}
    now[Grouping.OVERALL] = {
        "all": Figures(
            received=12,
            acknowledged=12,
            acknowledged_on_time=12,
            resolved=10,
            resolved_on_time=9,
            resolved_on_time_original=8,
            rated=4,
            satisfied=4,
            ack_median=4 * MIN,
            ack_p90=11 * MIN,
            resolve_median=2 * HOUR + 5 * MIN,
            resolve_p90=DAY + 3 * HOUR,
            overdue=1,
            overdue_open=1,
            overdue_buckets={"3-7d": 1},
        )
    }
    before[Grouping.OVERALL] = {
        "all": Figures(
            received=10,
            acknowledged=10,
            acknowledged_on_time=9,
            overdue=1,
            rated=2,
            satisfied=2,
            resolved=10,
            resolved_on_time=9,
            resolved_on_time_original=9,
        )
    }
    return weekly_report(
        "2026-W48", SHANGHAI, now, before, datetime(2026, 11, 30, 9, 0, tzinfo=SHANGHAI)
    )


def test_the_weekly_message_reads_in_words() -> None:
    body = strip_markup(report_text("zh", a_week(), NAMES, SHANGHAI, "全街道"))
    assert body.splitlines() == [
        "📊 2026 年第 48 周（11 月 23 日—29 日）响应统计 · 全街道",
        "截至 11 月 30 日 09:00",
        "受理 12 件（较上周 +2）",
        "响应率 100%（与上周持平）",
        "按时响应率 100%（较上周 +10 个百分点）",
        "解决率 83%（较上周 -17 个百分点）",
        "按时解决率 75%（较上周 -15 个百分点）",
        "按原时限解决率 67%（较上周 -23 个百分点）",
        "满意率 100%（与上周持平）",
        "报到用时：中位数 4 分钟，90% 在 11 分钟内；未报到 0 件",
        "办结用时：中位数 2 小时 5 分钟，90% 在 1 天 3 小时内",
        "逾期 1 件（与上周持平）；仍未办结 1 件，其中"
        "逾期 1 天内 0 件、1–3 天 0 件、3–7 天 1 件、7 天以上 0 件",
        "重办 0 件（0%），与上周持平",
        "逾期督办 0 件（0%），与上周持平",
        "退回（派错）0 件（0%），与上周持平",
        "申请延期 0 件，同意 0 件；周末挂账 0 件",
    ]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_no_iso_week_no_ascii_units_no_bare_dash_no_double_brackets(lang: str) -> None:
    empty = {g: {} for g in Grouping}
    quiet = weekly_report(
        "2026-W48", SHANGHAI, empty, empty, datetime(2026, 11, 30, tzinfo=SHANGHAI)
    )
    for report in (a_week(), quiet):
        body = strip_markup(report_text(lang, report, NAMES, SHANGHAI, "x"))
        assert "W48" not in body and "P90" not in body.upper() and not re.search(r"\dpt\b", body)
        assert "±" not in body and " - " not in body and not re.search(r"：-|\s-$", body, re.M)
        assert "）（" not in body and ")(" not in body and "((" not in body
        if lang == "en":
            assert not re.search("[（）：，]", body)
    assert "暂无" in strip_markup(report_text("zh", quiet, NAMES, SHANGHAI, "x"))
    english = strip_markup(report_text("en", a_week(), NAMES, SHANGHAI, "whole street"))
    assert "week 48 of 2026 (23–29 November)" in english
    assert "Received 12 (+2 on last week)" in english and "90% within 11 min" in english


def test_chinese_catalogue_has_no_ascii_units_or_iso_weeks() -> None:
    for key, value in CATALOGUES["zh"].items():
        if key == "st_usage":  # the command's argument is the ISO label
            continue
        assert not re.search(
            r"\d\s*(d|h|min|pt)\b|P90|W\d\d|超时|超期|已关闭|部门党员|街巷", value
        ), key


def test_weeks_across_a_month_and_durations_one_way() -> None:
    assert week_in_words("zh", "2026-W49", SHANGHAI) == "2026 年第 49 周（11 月 30 日—12 月 6 日）"
    assert week_in_words("en", "2026-W49", SHANGHAI) == "week 49 of 2026 (30 November – 6 December)"
    assert duration("zh", timedelta(hours=2, minutes=5)) == "2 小时 5 分钟"
    assert duration("zh", timedelta(hours=2)) == "2 小时"
    assert duration("zh", timedelta(days=1)) == "1 天"


def rows() -> list[IssueRow]:
    reported = int(datetime(2026, 11, 24, 9, 30, tzinfo=SHANGHAI).timestamp())
    return [
        IssueRow(
            id=7,
            reported_at=reported,
            state="closed",
            grid="G01",
            category="env",
            department="cg",
            assignee=1002,
            urgent=True,
            dispatched_at=reported,
            acknowledged_at=reported + 4 * MIN,
            ack_deadline=reported + 30 * MIN,
            resolved_at=reported + HOUR,
            resolve_deadline=reported + DAY,
            rating="satisfied",
            reopened=False,
            escalated=False,
            transferred=False,
        )
    ]


def test_csv_is_headed_in_the_readers_language_with_names_and_local_times() -> None:
    data = report_csv(a_week(), rows(), NAMES, SHANGHAI, "zh").decode("utf-8-sig")
    header, line = list(csv.reader(io.StringIO(data)))
    record = dict(zip(header, line, strict=True))
    assert header[:2] == ["编号", "上报时间"]
    assert record["状态"] == "已结案" and record["状态代码"] == "closed"
    assert record["责任部门"] == "城管执法中队" and record["部门代码"] == "cg"
    assert record["类别"] == "环境卫生" and record["评价"] == "满意"
    assert record["上报时间"] == "2026-11-24 09:30:00"
    english = report_csv(a_week(), rows(), NAMES, SHANGHAI, "en").decode("utf-8-sig")
    assert english.startswith("number,reported at,") and "case closed" in english
    assert len(header) == len(ISSUE_COLUMNS)


def test_xlsx_has_date_cells_a_frozen_header_and_widths() -> None:
    book = zipfile.ZipFile(io.BytesIO(report_xlsx(a_week(), rows(), NAMES, SHANGHAI, "zh")))
    issues = book.read("xl/worksheets/sheet2.xml").decode()
    assert 'state="frozen"' in issues and 'ySplit="1"' in issues
    assert "<cols>" in issues and 'customWidth="1"' in issues
    styles = book.read("xl/styles.xml").decode()
    assert 'formatCode="yyyy-mm-dd hh:mm"' in styles
    # 上报时间 (column B) of the first issue is a number: an Excel serial date, 09:30 local.
    cell = re.search(r'<c r="B2" s="(\d+)"[^>]*><v>([\d.]+)</v>', issues)
    assert cell is not None
    assert math.isclose(float(cell.group(2)) % 1, 9.5 / 24, abs_tol=1e-6)
    assert "明细" in book.read("xl/workbook.xml").decode()
    # constant_memory mode writes strings inline in the sheet
    assert "上报时间" in issues and "城管执法中队" in issues


def test_json_as_of_is_in_the_streets_zone() -> None:
    report = a_week()
    shifted = WeeklyReport(**{**report.__dict__, "as_of": report.as_of.astimezone(ZoneInfo("UTC"))})
    body = json.loads(json.dumps(report_json(shifted, NAMES)))
    assert body["as_of"] == "2026-11-30T09:00:00+08:00"
    assert body["starts"].endswith("+08:00")


def test_the_trend_leaves_a_gap_for_a_week_without_reports() -> None:
    trend = [("2026-W47", Figures()), ("2026-W48", Figures(received=2, acknowledged=1))]
    values = trend_rates(trend, "response_rate")
    assert math.isnan(values[0]) and values[1] == 50.0


async def test_without_a_cjk_font_the_log_says_so_once(caplog: pytest.LogCaptureFixture) -> None:
    from bot import chart_process
    from bot.stats_views import CJK_FONTS

    with caplog.at_level(logging.WARNING, logger="bot.chart_process"):
        font = await chart_process.check_cjk_font()
    assert font is None or font in CJK_FONTS
    warnings = [r for r in caplog.records if "no CJK font" in r.getMessage()]
    assert len(warnings) == (1 if font is None else 0)
    if warnings:
        assert "font cache" in warnings[0].getMessage()
