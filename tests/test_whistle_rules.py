"""联合吹哨's pure rules: the great-circle distance at the radius boundary, the summoned
department's states in bot/lifecycle.py, and the organisation file's [whistle] table."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings

from bot.lifecycle import (
    SummonAction,
    SummonRefused,
    SummonState,
    next_summon_state,
)
from bot.organisation import OrganisationInvalid, WhistleRules, parse_organisation
from bot.stats import Grouping, SummonsRow, whistle_figures
from bot.whistles import EARTH_RADIUS_METERS, Place, arrive_by, check_in, distance_meters, on_time
from tests.stats_oracle import summons_rows
from tests.stats_oracle import whistle_figures as oracle

SITE = Place(39.9087, 116.3975)


def north_of(place: Place, meters: float) -> Place:
    """A place `meters` due north (along a meridian the great-circle distance is exact)."""
    return Place(place.latitude + math.degrees(meters / EARTH_RADIUS_METERS), place.longitude)


def test_distance_along_a_meridian_is_exact() -> None:
    assert distance_meters(SITE, north_of(SITE, 1000.0)) == pytest.approx(1000.0, abs=1e-6)
    assert distance_meters(SITE, SITE) == 0.0


def test_distance_is_symmetric_and_known() -> None:
    beijing, shanghai = Place(39.9042, 116.4074), Place(31.2304, 121.4737)
    d = distance_meters(beijing, shanghai)
    assert d == pytest.approx(distance_meters(shanghai, beijing))
    assert 1_060_000 < d < 1_075_000  # about 1,067 km


@pytest.mark.parametrize(
    ("meters", "on_site"),
    [(0.0, True), (299.4, True), (300.0, True), (300.4, True), (300.6, False), (301.0, False)],
)
def test_the_radius_boundary_counts_as_on_site(meters: float, on_site: bool) -> None:
    found = check_in(SITE, north_of(SITE, meters), 300)
    assert found.on_site is on_site
    assert found.meters == round(meters)


def test_east_west_near_the_boundary() -> None:
    # 300 m due east at this latitude: the longitude step shrinks with cos(latitude).
    step = math.degrees(300.0 / (EARTH_RADIUS_METERS * math.cos(math.radians(SITE.latitude))))
    assert check_in(SITE, Place(SITE.latitude, SITE.longitude + step), 300).meters == 300
    assert not check_in(SITE, Place(SITE.latitude, SITE.longitude + step * 1.01), 300).on_site


def test_invalid_places() -> None:
    assert not Place(91.0, 0.0).valid()
    assert not Place(0.0, 181.0).valid()
    assert not Place(float("nan"), 0.0).valid()
    assert SITE.valid()


def test_arrival_limits_and_on_time() -> None:
    rules = WhistleRules()
    start = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
    assert arrive_by(rules, False, start) == start + timedelta(minutes=30)
    assert arrive_by(rules, True, start) == start + timedelta(minutes=15)
    assert on_time(100, 1900, 1900)
    assert not on_time(100, 1901, 1900)
    assert not on_time(100, None, 1900)


def test_summoned_department_states() -> None:
    s = next_summon_state(SummonState.SUMMONED, SummonAction.CHECK_IN_FAR)
    assert s == SummonState.FAR
    assert next_summon_state(s, SummonAction.CHECK_IN_FAR) == SummonState.FAR
    assert next_summon_state(s, SummonAction.OVERDUE) == SummonState.OVERDUE
    assert next_summon_state(SummonState.OVERDUE, SummonAction.ARRIVE) == SummonState.ARRIVED
    assert next_summon_state(SummonState.ARRIVED, SummonAction.CO_DONE) == SummonState.DONE
    assert next_summon_state(SummonState.DONE, SummonAction.REOPEN) == SummonState.ARRIVED
    assert next_summon_state(SummonState.DONE, SummonAction.RELEASE) == SummonState.RELEASED
    with pytest.raises(SummonRefused):
        next_summon_state(SummonState.SUMMONED, SummonAction.CO_DONE)  # must arrive first
    with pytest.raises(SummonRefused):
        next_summon_state(SummonState.ARRIVED, SummonAction.ARRIVE)
    for action in SummonAction:
        with pytest.raises(SummonRefused):
            next_summon_state(SummonState.RELEASED, action)


BASE = (Path(__file__).resolve().parent.parent / "bot" / "data" / "district.toml").read_text(
    encoding="utf-8"
)


def test_whistle_table_defaults_and_values() -> None:
    assert parse_organisation(BASE).whistle == WhistleRules(
        arrive_minutes=30, urgent_arrive_minutes=15, radius_meters=300
    )
    org = parse_organisation(BASE + "[whistle]\narrive_minutes = 20\nradius_meters = 500\n")
    assert org.whistle.arrive_minutes == 20
    assert org.whistle.radius_meters == 500
    assert org.whistle.urgent_arrive_minutes == 15
    for bad in ("radius_meters = 0", "arrive_minutes = -5", "nonsense = 1"):
        with pytest.raises(OrganisationInvalid):
            parse_organisation(BASE + f"[whistle]\n{bad}\n")


@given(summons_rows())
@settings(max_examples=200, deadline=None)
def test_whistle_figures_match_the_oracle(rows: list[SummonsRow]) -> None:
    computed = whistle_figures(rows)
    keys_of = {
        Grouping.OVERALL: lambda r: "all",
        Grouping.DEPARTMENT: lambda r: r.department,
        Grouping.GRID: lambda r: r.grid,
        Grouping.CATEGORY: lambda r: r.category,
    }
    for grouping, key in keys_of.items():
        expected = {k: oracle([r for r in rows if key(r) == k]) for k in {key(r) for r in rows}}
        got = {
            k: {name: getattr(f, name.removesuffix("_seconds")) for name in expected[k]}
            for k, f in computed[grouping].items()
        }
        assert got == expected
    assert computed[Grouping.MEMBER] == {}
