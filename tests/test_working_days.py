"""Limits in working days and office hours on China's calendar, as the organisation file
sets them: the file's [calendar], the category keys, `whistle deadline` and org check."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.cli import calendar_warnings
from bot.deadlines import deadlines_in
from bot.organisation import OrganisationInvalid, parse_organisation
from bot.services import Services
from storage.db import fetch_one
from tests import cli
from tests.conftest import DISTRICT
from tests.office import WORKER, drafted

ROOT = Path(__file__).resolve().parent.parent
SHANGHAI = ZoneInfo("Asia/Shanghai")
SANITATION = """ack_minutes = 30
resolve_hours = 24
urgent_ack_minutes = 10
urgent_resolve_hours = 4
"""


def district(sanitation: str = SANITATION, calendar: str = "") -> str:
    text = DISTRICT.read_text(encoding="utf-8")
    assert SANITATION in text
    text = text.replace(SANITATION, sanitation, 1)
    return text.replace(
        'timezone = "Asia/Shanghai"\n', f'timezone = "Asia/Shanghai"\n{calendar}\n', 1
    )


WORKDAYS = """ack_minutes = 30
resolve_workdays = 1
urgent_ack_minutes = 10
urgent_resolve_hours = 4
"""
BUSINESS = """ack_minutes = 30
resolve_hours = 4
business_hours = true
"""
CALENDAR_2027 = """
[calendar]
holidays = ["2027-01-01"]
workdays = [2027-02-20]
"""


def local(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=SHANGHAI)  # type: ignore[misc]


def test_one_working_day_across_national_day() -> None:
    org = parse_organisation(district(WORKDAYS))
    due = deadlines_in(org, "cg", org.categories["sanitation"], False, local(2026, 9, 30, 16))
    assert due.resolve_by == local(2026, 10, 8, 17, 30)
    assert due.acknowledge_by == local(2026, 9, 30, 16, 30)
    urgent = deadlines_in(org, "cg", org.categories["sanitation"], True, local(2026, 9, 30, 16))
    assert urgent.resolve_by == local(2026, 9, 30, 20)  # urgent stays in hours


def test_office_hours_skip_the_holiday_and_count_the_adjusted_saturday() -> None:
    org = parse_organisation(district(BUSINESS))
    rules = org.categories["sanitation"]
    # 住建 (zj) keeps office hours (no duty roster, which works through holidays):
    # 16:00–17:30 on 09-30, then National Day, then 08:30–11:00 on 10-08.
    assert deadlines_in(org, "zj", rules, False, local(2026, 9, 30, 16)).resolve_by == local(
        2026, 10, 8, 11
    )
    # Friday 10-09 17:00–17:30, then Saturday 10-10 (调休, office day) 08:30–12:00.
    assert deadlines_in(org, "zj", rules, False, local(2026, 10, 9, 17)).resolve_by == local(
        2026, 10, 10, 12
    )


def test_the_file_calendar_carries_a_year_the_library_does_not_know() -> None:
    org = parse_organisation(district(WORKDAYS, CALENDAR_2027))
    due = deadlines_in(org, "cg", org.categories["sanitation"], False, local(2026, 12, 31, 16))
    assert due.resolve_by == local(2027, 1, 4, 17, 30)  # 01-01 holiday, then the weekend
    friday = deadlines_in(org, "cg", org.categories["sanitation"], False, local(2027, 2, 19, 9))
    assert friday.resolve_by == local(2027, 2, 20, 17, 30)  # a 调休 Saturday
    assert calendar_warnings(org, datetime(2026, 11, 29, tzinfo=UTC)) == []


def test_org_check_warns_about_a_year_nobody_knows_only_where_it_matters() -> None:
    org = parse_organisation(district(WORKDAYS))
    warnings = calendar_warnings(org, datetime(2030, 6, 1, tzinfo=UTC))
    assert len(warnings) == 2 and "2030" in warnings[0] and "2031" in warnings[1]
    calendar_time = parse_organisation(district())
    assert calendar_warnings(calendar_time, datetime(2030, 6, 1, tzinfo=UTC)) == []


@pytest.mark.parametrize(
    ("sanitation", "calendar", "says"),
    [
        ("ack_minutes = 30\n", "", "resolve_hours or resolve_workdays"),
        ("ack_minutes = 30\nresolve_hours = 4\nresolve_workdays = 1\n", "", "resolve_hours or"),
        ("ack_minutes = 30\nresolve_workdays = 0\n", "", "resolve_workdays"),
        (
            WORKDAYS,
            '[calendar]\nholidays = ["2027-01-01"]\nworkdays = ["2027-01-01"]\n',
            "a holiday and a workday",
        ),
        (WORKDAYS, '[calendar]\nholidays = ["2027-02-30"]\n', "holidays"),
    ],
)
def test_the_file_is_checked(sanitation: str, calendar: str, says: str) -> None:
    with pytest.raises(OrganisationInvalid) as invalid:
        parse_organisation(district(sanitation, calendar))
    assert says in str(invalid.value)


def whistle(tmp_path: Path, *args: str) -> cli.Done:
    return cli.whistle(ROOT, *args, env={"WHISTLE_DATABASE": str(tmp_path / "w.db")})


def test_whistle_deadline_prints_when_things_are_due(tmp_path: Path) -> None:
    org_file = tmp_path / "district.toml"
    org_file.write_text(district(WORKDAYS), encoding="utf-8")
    done = whistle(
        tmp_path, "deadline", "sanitation", "--from", "2026-09-30T16:00", "--org", str(org_file)
    )
    assert done.returncode == 0, done.stderr
    assert "报到 due: 2026-09-30 16:30 (Wed)" in done.stdout
    assert "办结 due: 2026-10-08 17:30 (Thu)" in done.stdout
    urgent = whistle(
        tmp_path,
        "deadline",
        "sanitation",
        "--from",
        "2026-09-30T16:00",
        "--urgent",
        "--org",
        str(org_file),
    )
    assert "办结 due: 2026-09-30 20:00 (Wed)" in urgent.stdout
    # From the database, once imported.
    assert whistle(tmp_path, "org", "import", str(org_file)).returncode == 0
    stored = whistle(tmp_path, "deadline", "sanitation", "--from", "2026-09-30T16:00")
    assert "办结 due: 2026-10-08 17:30 (Thu)" in stored.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("nosuch", "--from", "2026-09-30T16:00"), "no category 'nosuch'"),
        (("sanitation", "--from", "yesterday"), "--from 'yesterday' is not a time"),
        (("sanitation", "--from", "2026-09-30T16:00", "--department", "zz"), "no department"),
    ],
)
def test_whistle_deadline_refuses_bad_input_in_one_line(
    tmp_path: Path, args: tuple[str, ...], says: str
) -> None:
    org_file = tmp_path / "district.toml"
    org_file.write_text(district(WORKDAYS), encoding="utf-8")
    done = whistle(tmp_path, "deadline", *args, "--org", str(org_file))
    assert done.returncode == 2
    assert says in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_whistle_deadline_without_a_database_says_so(tmp_path: Path) -> None:
    done = whistle(tmp_path, "deadline", "sanitation", "--from", "2026-09-30T16:00")
    assert done.returncode == 1 and "no database" in done.stderr
    assert not (tmp_path / "w.db").exists()


async def test_a_report_in_a_working_days_category_is_due_at_the_end_of_the_next_working_day(
    office: Services,
) -> None:
    """Asked of the services (tests/office.py): the receipt the reporter reads and the
    stored deadline."""
    await office.organisations.import_text(district(WORKDAYS))
    # Wednesday 2026-11-25 10:00: due Thursday 11-26 at 17:30, the end of office hours.
    await drafted(office)
    receipt = str((await office.issues.submit_report(WORKER)).text)
    number = re.search(r"#(\d+)", receipt)
    assert number is not None
    assert "11-26 17:30" in receipt
    row = await fetch_one(
        office.db.reader, "SELECT resolve_deadline FROM issue WHERE id = ?", (int(number[1]),)
    )
    assert row is not None
    assert row["resolve_deadline"] == int(local(2026, 11, 26, 17, 30).timestamp())
