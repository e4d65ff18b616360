"""附议 end to end over HTTP: after the location step, open issues of the same category
reported nearby in the last 7 days are offered first; 附议 follows one (its progress
notices, 确认) instead of a new issue; 不是同一个问题 carries on. And the distance itself."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.closures import Candidate, nearby
from bot.geo import distance_meters
from bot.lifecycle import State
from bot.organisation import OrganisationInvalid, parse_organisation
from storage import followers as follower_store
from storage import issues as issue_store
from storage.db import fetch_one
from tests.conftest import DISTRICT, Street, open_street
from whistle_testing import SentMessage, SimulatedUser

HERE = (39.9, 116.4)
METRES_PER_DEGREE_LATITUDE = 2 * 3.141592653589793 * 6_371_008.8 / 360


def north(metres: float) -> tuple[float, float]:
    return HERE[0] + metres / METRES_PER_DEGREE_LATITUDE, HERE[1]


async def issues(street: Street) -> int:
    row = await fetch_one(street.whistle.db.reader, "SELECT COUNT(*) FROM issue")
    assert row is not None
    return int(row[0])


async def to_location(
    worker: SimulatedUser, place: tuple[float, float], category: str = "环境卫生"
) -> int:
    """Drive a report up to its location; returns the mark before the location was sent."""
    mark = worker.mark()
    await worker.send("/report")
    await worker.tap(await worker.expect("请选择问题类别", mark), category)
    await worker.expect("请用文字描述问题", mark)
    await worker.send("路边垃圾堆积")
    await worker.tap(await worker.expect("请发送现场照片", mark), "跳过")
    await worker.expect("请发送位置", mark)
    mark = worker.mark()
    await worker.send_location(*place)
    return mark


async def next_prompt(worker: SimulatedUser, mark: int) -> SentMessage:
    """The message after the location: the nearby offer or the urgency question."""
    message = await worker.expect("", mark)
    return message


async def test_a_worker_seconds_a_nearby_issue_and_follows_it(street: Street) -> None:
    first, second = street.person(2001, "王芳"), street.person(2002, "李娜")
    number = await street.blow_whistle(first, location=HERE)
    issue = await issue_store.get_issue(street.whistle.db.reader, number)
    assert issue is not None and issue.assignee_id is not None
    member = street.person(issue.assignee_id)
    card = await member.expect(f"#{number}", button="报到")
    await member.answer_to(await member.tap(card, "报到"))
    count = await issues(street)

    mark = await to_location(second, north(150))
    offer = await next_prompt(second, mark)
    assert "附近 7 天内" in offer.text and f"#{number}" in offer.text
    labels = [label for label, _ in offer.buttons()]
    assert any("附议" in label and f"#{number}" in label for label in labels)
    assert any("不是同一个问题" in label for label in labels)
    await second.tap(offer, "附议")
    await second.expect(f"已附议 #{number}", mark)
    await street.settle()
    assert await issues(street) == count
    assert await street.whistle.services.reports.current(2002) is None
    assert await follower_store.followers(street.whistle.db.reader, number) == [2002]
    history = [e.action for e in await issue_store.events(street.whistle.db.reader, number)]
    assert history[-1] == "second"
    assert "附议：1 人" in card.text

    # The follower gets the same progress notices, and may 确认.
    mark = second.mark()
    await member.tap(await member.expect(f"#{number}", button="进展"), "进展")
    await member.expect("进展", member.mark() - 1)
    await member.send("已联系环卫车")
    await second.expect("已联系环卫车", mark)
    await street.resolve(member, number, "已清运完毕")
    notice = await second.expect("已清运完毕", mark, button="确认")
    assert f"你关注的 #{number}" in notice.text
    assert await second.answer_to(await second.tap(notice, "确认")) is None
    await street.settle()
    found = await issue_store.get_issue(street.whistle.db.reader, number)
    assert found is not None and found.state == State.CLOSED


async def test_not_the_same_problem_carries_on_with_the_new_report(street: Street) -> None:
    first, second = street.person(2001, "王芳"), street.person(2002, "李娜")
    number = await street.blow_whistle(first, location=HERE)
    mark = await to_location(second, north(50))
    offer = await next_prompt(second, mark)
    assert f"#{number}" in offer.text
    await second.tap(offer, "不是同一个问题")
    await second.tap(await second.expect("请选择紧急程度", mark), "一般")
    await second.tap(await second.expect("请核对", mark), "提交")
    await second.expect("已上报", mark)
    assert await issues(street) == 2
    assert await follower_store.followers(street.whistle.db.reader, number) == []


@pytest.mark.parametrize(
    ("place", "category", "days"),
    [
        (north(260), "环境卫生", 0),  # outside the 200 m radius
        (north(50), "占道经营", 0),  # another category
        (north(50), "环境卫生", 7),  # reported more than 7 days ago
    ],
    ids=["outside-the-radius", "another-category", "older-than-7-days"],
)
async def test_no_offer_outside_the_radius_another_category_or_after_a_week(
    street: Street, place: tuple[float, float], category: str, days: int
) -> None:
    first, second = street.person(2001, "王芳"), street.person(2002, "李娜")
    await street.blow_whistle(first, location=HERE)
    street.clock.advance(timedelta(days=days, seconds=1 if days else 0))
    mark = await to_location(second, place, category)
    prompt = await next_prompt(second, mark)
    assert "请选择紧急程度" in prompt.text and "附近" not in prompt.text


async def test_a_forged_second_changes_nothing(street: Street) -> None:
    first, second = street.person(2001, "王芳"), street.person(2002, "李娜")
    await street.blow_whistle(first, location=HERE)
    far = await street.blow_whistle(first, "占道经营", location=HERE)
    mark = await to_location(second, north(50))
    offer = await next_prompt(second, mark)
    before = street.dump()
    answer = await second.answer_to(await second.tap_data(offer, f"r:me2:{far}"))
    assert answer is not None and f"#{far}" in answer
    assert street.dump() == before


async def test_a_category_sets_its_own_radius(tmp_path: Path) -> None:
    text = DISTRICT.read_text(encoding="utf-8")
    sanitation = 'code = "sanitation"'
    assert text.count(sanitation) == 1
    text = text.replace(sanitation, sanitation + "\nnearby_meters = 500", 1)
    organisation = tmp_path / "wide.toml"
    organisation.write_text(text, encoding="utf-8")
    assert parse_organisation(text).categories["sanitation"].nearby_meters == 500
    assert (
        parse_organisation(DISTRICT.read_text(encoding="utf-8"))
        .categories["sanitation"]
        .nearby_meters
        == 200
    )
    with pytest.raises(OrganisationInvalid, match="nearby_meters"):
        parse_organisation(text.replace("nearby_meters = 500", "nearby_meters = 0"))
    async with open_street(tmp_path, organisation) as street:
        first, second = street.person(2001, "王芳"), street.person(2002, "李娜")
        number = await street.blow_whistle(first, location=HERE)
        mark = await to_location(second, north(400))
        offer = await next_prompt(second, mark)
        assert f"附议 #{number}" in str(offer.buttons())


def test_distance_is_the_great_circle() -> None:
    assert distance_meters(*HERE, *HERE) == 0
    assert distance_meters(*HERE, *north(200)) == pytest.approx(200, abs=1e-6)
    # One degree of longitude on the equator, and a quarter of a meridian.
    assert distance_meters(0, 0, 0, 1) == pytest.approx(111_195.08, abs=0.5)
    assert distance_meters(0, 0, 90, 0) == pytest.approx(10_007_557, abs=5)
    # Antipodes: half the circumference, without a domain error.
    assert distance_meters(0, 0, 0, 180) == pytest.approx(20_015_115, abs=5)
    # Across the antimeridian it is the short way round.
    assert distance_meters(0, 179.999, 0, -179.999) == pytest.approx(222.4, abs=0.1)
    assert distance_meters(*HERE, 39.91, 116.41) == distance_meters(39.91, 116.41, *HERE)


def _candidate(n: int, place: tuple[float, float], **changes: object) -> Candidate:
    values: dict[str, object] = {
        "issue_id": n,
        "category": "sanitation",
        "state": State.DISPATCHED,
        "reported_at": 1_000_000,
        "latitude": place[0],
        "longitude": place[1],
    }
    values.update(changes)
    return Candidate(**values)  # type: ignore[arg-type]


def test_nearby_includes_the_boundary_and_the_seventh_day_and_sorts_by_distance() -> None:
    now = 1_000_000 + 7 * 86400
    on_edge = _candidate(1, north(200 - 1e-6))
    beyond = _candidate(2, north(200.01))
    near = _candidate(3, north(10))
    week_old = _candidate(4, north(5), reported_at=now - 7 * 86400)
    too_old = _candidate(5, north(5), reported_at=now - 7 * 86400 - 1)
    closed = _candidate(6, north(5), state=State.CLOSED)
    other = _candidate(7, north(5), category="noise")
    found = nearby(
        [on_edge, beyond, near, week_old, too_old, closed, other],
        "sanitation",
        *HERE,
        now,
        200,
    )
    assert [c.issue_id for c, _ in found] == [4, 3, 1]
    assert nearby([near], "sanitation", *HERE, now, 200, exclude=[3]) == []
