"""The weekly report, end to end: pushed once to the admins and to every head, with a
message, a chart and the files, and never twice across restarts."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.cli import _stats as cli_stats
from bot.stats import week_label
from tests.conftest import WEDNESDAY_MORNING, Street

HEADS = (1001, 1101, 1201, 1301, 1401, 1501, 1601, 1701)


def stats_calls(street: Street, chat_id: int) -> list[str]:
    return [
        c.method
        for c in street.api.calls
        if c.chat_id == chat_id
        and c.status == 200
        and c.method in ("sendMessage", "sendPhoto", "sendDocument")
        and ("2026 年第 47 周" in str(c.params.get("text", "")) or c.method != "sendMessage")
    ]


async def test_the_weekly_report_goes_out_once_with_chart_and_files(street: Street) -> None:
    # The street has been on Whistle long before these weeks (a fresh install pushes no
    # report about weeks before its first import).
    async with street.whistle.db.write() as tx:
        await tx.execute("UPDATE install_value SET value = '0' WHERE name = 'first_org_import'")
    worker = street.person(2001)
    street.clock.set(WEDNESDAY_MORNING - timedelta(days=7))
    await street.blow_whistle(worker, "环境卫生", "上周的问题")
    street.clock.set(WEDNESDAY_MORNING)
    street.settings = street.settings.model_copy(update={"weekly_stats": True})
    await street.restart()
    admin = street.person(3001)
    summary = await admin.expect("2026 年第 47 周", timeout=30)
    assert "全街道" in summary.text and "受理 1 件（较上周 +1）" in summary.text
    await street.api.wait_for(lambda: len(stats_calls(street, 3001)) == 4, timeout=30)
    for head in HEADS:
        await street.api.wait_for(lambda h=head: len(stats_calls(street, h)) == 4, timeout=30)
    assert stats_calls(street, 3001) == ["sendMessage", "sendPhoto", "sendDocument", "sendDocument"]
    photo = next(m for m in admin.inbox() if m.kind == "photo")
    assert street.api.files[photo.raw["photo"][0]["file_id"]].startswith(b"\x89PNG")
    documents = [m.raw["document"] for m in admin.inbox() if m.kind == "document"]
    assert [d["file_name"] for d in documents] == ["whistle-2026-W47.csv", "whistle-2026-W47.xlsx"]
    csv_text = street.api.files[documents[0]["file_id"]].decode("utf-8-sig")
    assert csv_text.splitlines()[1].split(",")[9] == "张伟"
    assert street.api.files[documents[1]["file_id"]].startswith(b"PK")
    cg_head = [m.text for m in street.person(1001).inbox() if "2026 年第 47 周" in m.text]
    assert "城管执法中队" in cg_head[0] and "受理 1 件" in cg_head[0]
    await street.restart()
    await street.settle()
    await street.whistle.services.statistics.push_due()
    await street.settle()
    assert len(stats_calls(street, 3001)) == 4
    assert all(len(stats_calls(street, head)) == 4 for head in HEADS)


async def test_whistle_stats_writes_every_issue_of_the_week_to_the_files(street: Street) -> None:
    """`whistle stats --format csv|xlsx` (bot/cli.py) reads the rows behind the figures
    through a connection of its own while the bot runs."""
    worker = street.person(2001)
    for description in ("第一个问题", "第二个问题"):
        await street.blow_whistle(worker, "环境卫生", description)
    week = week_label(street.clock.now(), street.whistle.services.zone)
    csv_bytes = await cli_stats(street.settings, week, "csv", None)
    assert csv_bytes is not None
    lines = csv_bytes.decode("utf-8-sig").splitlines()
    assert len(lines) == 3 and lines[0].startswith("编号,")
    assert [line.split(",")[9] for line in lines[1:]] == ["张伟", "张伟"]
    xlsx = await cli_stats(street.settings, week, "xlsx", None)
    assert xlsx is not None and xlsx.startswith(b"PK")


async def test_stats_on_demand_send_the_chart_and_the_xlsx_without_building_a_csv(
    street: Street, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A street's week of 100,000 issues makes a CSV of tens of MB; the /stats answer does
    not send one, so it must not build one (it was the difference between 153 and 142 MB
    at the peak of the memory bench)."""
    from bot.services import statistics

    def no_csv(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("the /stats answer built a CSV")

    monkeypatch.setattr(statistics, "report_csv", no_csv)
    admin = street.person(3001)
    await street.blow_whistle(street.person(2001))
    mark = admin.mark()
    await admin.send("/stats")
    await admin.expect("响应统计", mark, timeout=30)
    await street.api.wait_for(
        lambda: {m.kind for m in admin.inbox()[mark:]} >= {"photo", "document"}, 30
    )
    document = next(m for m in admin.inbox()[mark:] if m.kind == "document")
    assert document.raw["document"]["file_name"].endswith(".xlsx")
