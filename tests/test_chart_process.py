"""The weekly chart is drawn in a child process, and in the bot when the child fails."""

from __future__ import annotations

import logging
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.chart_process import chart_in_child
from bot.stats import Figures, Grouping, WeeklyReport, weekly_report
from bot.views import Names

SHANGHAI = ZoneInfo("Asia/Shanghai")
NAMES = Names({"zj": "住建科", "cg": "城管科"}, {}, {}, {})


def a_report() -> WeeklyReport:
    week: dict[Grouping, dict[str, Figures]] = {g: {} for g in Grouping}
    week[Grouping.OVERALL] = {"all": Figures(received=3, acknowledged=2)}
    week[Grouping.DEPARTMENT] = {
        "zj": Figures(received=2, acknowledged=2, acknowledged_on_time=2),
        "cg": Figures(received=1),
    }
    return weekly_report("2026-W47", SHANGHAI, week, week, datetime(2026, 11, 20, tzinfo=SHANGHAI))


TREND = [("2026-W46", Figures(received=1)), ("2026-W47", Figures(received=3))]


async def test_the_child_draws_the_chart(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.chart_process"):
        png = await chart_in_child(a_report(), TREND, NAMES, "zh")
    assert png.startswith(b"\x89PNG")
    assert not caplog.records


@pytest.mark.parametrize(
    ("executable", "seconds", "says"),
    [
        ("/nonexistent/python", 60.0, "could not start"),
        ("/bin/false", 60.0, "failed (exit 1)"),
        (sys.executable, 0.001, "took over"),
    ],
)
async def test_when_the_child_fails_the_bot_draws_it(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    executable: str,
    seconds: float,
    says: str,
) -> None:
    monkeypatch.setattr(sys, "executable", executable)
    with caplog.at_level(logging.WARNING, logger="bot.chart_process"):
        png = await chart_in_child(a_report(), TREND, NAMES, "zh", seconds=seconds)
    assert png.startswith(b"\x89PNG")
    assert says in caplog.text
