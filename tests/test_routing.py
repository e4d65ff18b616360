"""Routing is a pure function of the organisation, the roster, the clock and the load."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.organisation import Organisation, Shift, parse_organisation
from bot.routing import MemberLoad, RouteReason, choose_member, route
from tests.conftest import DISTRICT

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def district() -> Organisation:
    return parse_organisation(DISTRICT.read_text(encoding="utf-8"))


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


def test_day_shift_member_gets_a_weekday_morning_report(district: Organisation) -> None:
    chosen = route(district, "sanitation", "G01", local(2026, 11, 25, 10, 0), {})
    assert (chosen.department, chosen.member, chosen.reason) == ("cg", 1002, RouteReason.ON_DUTY)


def test_overnight_shift_belongs_to_the_day_it_starts(district: Organisation) -> None:
    friday_night = route(district, "sanitation", "G01", local(2026, 11, 27, 23, 0), {})
    saturday_dawn = route(district, "sanitation", "G01", local(2026, 11, 28, 7, 59), {})
    assert friday_night.member == 1003
    assert saturday_dawn.member == 1003
    saturday_day = route(district, "sanitation", "G01", local(2026, 11, 28, 8, 0), {})
    assert saturday_day.member == 1004


def test_shift_boundaries_are_start_inclusive_end_exclusive(district: Organisation) -> None:
    assert route(district, "gas", "G02", local(2026, 11, 25, 7, 59), {}).member == 1403
    assert route(district, "gas", "G02", local(2026, 11, 25, 8, 0), {}).member == 1402
    assert route(district, "gas", "G02", local(2026, 11, 25, 19, 59), {}).member == 1402
    assert route(district, "gas", "G02", local(2026, 11, 25, 20, 0), {}).member == 1403


def test_without_a_roster_the_least_loaded_member_gets_it(district: Organisation) -> None:
    loads = {1102: MemberLoad(open_issues=3), 1103: MemberLoad(open_issues=1)}
    chosen = route(district, "construction", "G03", local(2026, 11, 25, 10, 0), loads)
    assert (chosen.member, chosen.reason) == (1103, RouteReason.LEAST_LOAD)


def test_load_ties_go_to_the_longest_idle_member(district: Organisation) -> None:
    earlier = datetime(2026, 11, 20, tzinfo=UTC)
    later = datetime(2026, 11, 24, tzinfo=UTC)
    loads = {1102: MemberLoad(1, later), 1103: MemberLoad(1, earlier)}
    assert route(district, "construction", "G03", local(2026, 11, 25, 10), loads).member == 1103
    never = {1102: MemberLoad(1, later), 1103: MemberLoad(1, None)}
    assert route(district, "construction", "G03", local(2026, 11, 25, 10), never).member == 1103


def test_full_ties_go_to_the_lowest_user_id(district: Organisation) -> None:
    assert route(district, "construction", "G03", local(2026, 11, 25, 10), {}).member == 1102


def test_a_grid_can_route_a_category_to_another_department() -> None:
    text = DISTRICT.read_text(encoding="utf-8").replace(
        'code = "G05"\nname = "工业园区网格"\nworkers = [2007, 2008]',
        'code = "G05"\nname = "工业园区网格"\nworkers = [2007, 2008]\nroutes = { noise = "zj" }',
    )
    org = parse_organisation(text)
    assert route(org, "noise", "G05", local(2026, 11, 25, 10), {}).department == "zj"
    assert route(org, "noise", "G01", local(2026, 11, 25, 10), {}).department == "hb"


def test_on_duty_members_are_split_by_load_too(district: Organisation) -> None:
    org = Organisation(
        timezone=district.timezone,
        admins=(),
        people={},
        departments=district.departments,
        categories=district.categories,
        grids=district.grids,
        shifts=(
            Shift("zj", 1102, frozenset(range(7)), 0, 1440),
            Shift("zj", 1103, frozenset(range(7)), 0, 1440),
        ),
    )
    loads = {1102: MemberLoad(2), 1103: MemberLoad(0)}
    chosen = choose_member(org, "zj", local(2026, 11, 25, 10), loads)
    assert (chosen.member, chosen.reason) == (1103, RouteReason.ON_DUTY)


def test_a_department_without_members_falls_back_to_its_head(district: Organisation) -> None:
    chosen = choose_member(district, "hb", local(2026, 11, 25, 10), {}, exclude=frozenset({1302}))
    assert (chosen.member, chosen.reason) == (1301, RouteReason.HEAD)
    nobody = choose_member(
        district, "hb", local(2026, 11, 25, 10), {}, exclude=frozenset({1301, 1302})
    )
    assert (nobody.member, nobody.reason) == (None, RouteReason.NOBODY)
