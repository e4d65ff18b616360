"""What a hostile tester tried on the wave-4 features (a careless or malicious street):
two roles at once deciding their own requests, typed dates for 延长挂账, forged and stale
whistle buttons, the gazetteer's full-width and duplicate names, map links at the ends of
the Earth, quiet hours over days off, and HTML in reasons and notes. Each finding that is
a bug and not fixed here is an xfail(strict=True) with its reason."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest

from bot.closures import ClosureKind
from bot.deadlines import after_quiet_hours
from bot.extensions import Kind
from bot.gazetteer import Ambiguous, Found, GazetteerPlace, NotFound, find
from bot.geo import wgs84_to_bd09, wgs84_to_gcj02
from bot.maps import MapApp, map_link
from bot.organisation import OrganisationInvalid, parse_organisation
from bot.services import Refused, Services
from bot.settings import Settings
from bot.workcalendar import WorkCalendar
from storage import whistles as whistle_store
from tests.conftest import DISTRICT, WEDNESDAY_MORNING, Street
from tests.office import ADMIN, WORKER, clock, dump, open_office, rows, taken
from tests.test_extensions import ask, held_issue, refused_by_head
from tests.test_field_places import demo, handed_back, reroute_labels
from tests.test_field_whistle2 import asked_where, confirmed
from tests.test_whistle import SITE, ZJ_GROUP, all_on_site, arrive, co_done, summoned_by_command
from whistle_testing import SimulatedUser
from whistle_testing.users import SentMessage

MEMBER, HEAD = 1002, 1001  # 张伟 and the head of 城管 (cg), which owns sanitation

SHANGHAI = ZoneInfo("Asia/Shanghai")


# --- 1. two roles at once: a member (or head) who is also an admin --------------------------


async def test_a_member_who_is_an_admin_cannot_approve_their_own_closure(tmp_path: Path) -> None:
    async with open_office(tmp_path, admin_ids=[ADMIN, MEMBER]) as office:
        number, holder = await taken(office)
        assert holder == MEMBER
        await office.closures.request(
            MEMBER, number, ClosureKind.INVALID, "现场无此问题", ("site", "site-u")
        )
        [(request_id,)] = rows(office, "SELECT id FROM closure_request WHERE issue_id = ?", number)
        before = dump(office)
        with pytest.raises(Refused) as refused:
            await office.closures.decide(MEMBER, request_id, approve=True)
        assert refused.value.key == "ans_not_allowed"
        assert dump(office) == before
        # The head (asked) and another admin still decide.
        await office.closures.decide(HEAD, request_id, approve=True)


async def test_a_head_who_is_an_admin_cannot_approve_their_own_closure(tmp_path: Path) -> None:
    async with open_office(tmp_path, admin_ids=[ADMIN, HEAD]) as office:
        number, _ = await taken(office)
        await office.issues.reassign(ADMIN, number, HEAD)
        await office.issues.acknowledge(HEAD, number)
        await office.closures.request(
            HEAD, number, ClosureKind.INVALID, "现场无此问题", ("site", "site-u")
        )
        [(request_id,)] = rows(office, "SELECT id FROM closure_request WHERE issue_id = ?", number)
        before = dump(office)
        with pytest.raises(Refused):
            await office.closures.decide(HEAD, request_id, approve=True)
        assert dump(office) == before
        await office.closures.decide(ADMIN, request_id, approve=True)


@pytest.mark.parametrize(
    ("kind", "reason", "when", "decider"),
    [(Kind.HOLD, "资金未到位", "12-10", ADMIN), (Kind.EXTEND, "材料未到", "+3", HEAD)],
    ids=["hold", "extension"],
)
async def test_a_member_who_is_an_admin_cannot_approve_their_own_hold_or_extension(
    tmp_path: Path, kind: Kind, reason: str, when: str, decider: int
) -> None:
    """Refused and nothing changes; the one who decides such a request (an admin for 挂账,
    the head for 延期) still can."""
    async with open_office(tmp_path, admin_ids=[ADMIN, MEMBER]) as office:
        number, _ = await taken(office)
        await office.extensions.request(MEMBER, number, kind, reason, when)
        [(request_id,)] = rows(
            office, "SELECT id FROM extension_request WHERE issue_id = ?", number
        )
        before = dump(office)
        with pytest.raises(Refused) as refused:
            await office.extensions.approve(MEMBER, request_id)
        assert refused.value.key == "ans_not_allowed"
        assert dump(office) == before
        await office.extensions.approve(decider, request_id)


# --- 2. 延长挂账 with a typed date ------------------------------------------------------------

REVIEW_DAY = datetime(2026, 12, 10, 2, 0, tzinfo=UTC)  # Thursday 10:00 in Shanghai


async def held_for_review(office: Services) -> int:
    """An issue on 挂账 until 12-10 (approved by the admin), on its review day."""
    number, member = await taken(office)
    await office.extensions.request(member, number, Kind.HOLD, "资金未到位", "12-10")
    [(request_id,)] = rows(office, "SELECT id FROM extension_request WHERE issue_id = ?", number)
    await office.extensions.approve(ADMIN, request_id)
    clock(office).set(REVIEW_DAY)
    return number


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        ("2026-02-30", "ext_date_unreadable"),
        ("13-45", "ext_date_unreadable"),
        ("0-0", "ext_date_unreadable"),
        ("2026-12-10", "ext_date_not_after"),  # today
        ("2026-12-09", "ext_date_not_after"),  # yesterday, written out
        ("2099-01-01", "ext_date_too_far"),
        ("9999-12-31", "ext_date_too_far"),
        ("+61", "ext_date_unreadable"),  # not one of the buttons
        ("<b>12-20</b>", "ext_date_unreadable"),
    ],
)
async def test_a_hold_extended_to_an_impossible_date_is_refused_and_changes_nothing(
    office: Services, typed: str, key: str
) -> None:
    number = await held_for_review(office)
    before = dump(office)
    with pytest.raises(Refused) as refused:
        await office.extensions.review(ADMIN, number, "more", typed)
    assert refused.value.key == key
    assert dump(office) == before


async def test_yesterday_typed_as_month_and_day_is_refused_for_a_hold(office: Services) -> None:
    number = await held_for_review(office)
    before = dump(office)
    with pytest.raises(Refused):
        await office.extensions.review(ADMIN, number, "more", "12-09")
    assert dump(office) == before


async def test_a_hold_review_by_a_member_or_of_a_forged_action_is_refused(
    office: Services,
) -> None:
    number = await held_for_review(office)
    before = dump(office)
    for user, choice in ((MEMBER, "more"), (HEAD, "go"), (WORKER, "close"), (ADMIN, "drop")):
        with pytest.raises(Refused):
            await office.extensions.review(user, number, choice, "12-20")
    assert dump(office) == before


# --- 3. the gazetteer: full-width and duplicate names, odd addresses -------------------------

DISTRICT_TEXT = DISTRICT.read_text(encoding="utf-8")


def place_block(name: str, lat: float, lon: float, aliases: tuple[str, ...] = ()) -> str:
    quoted = ", ".join(f'"{a}"' for a in aliases)
    return f'\n[[place]]\nname = "{name}"\nlat = {lat}\nlon = {lon}\naliases = [{quoted}]\n'


@pytest.mark.parametrize(
    "places",
    [
        place_block("１２号楼", 39.91, 116.40) + place_block("12号楼", 39.92, 116.41),
        place_block("幸福小区", 39.91, 116.40)
        + place_block("和平小区", 39.92, 116.41, ("幸福 小区",)),
        place_block("ＡＢ大厦", 39.91, 116.40) + place_block("ab大厦", 39.92, 116.41),
        place_block("。。", 39.91, 116.40),
        place_block("X", 39.91, 116.40),
    ],
)
def test_places_whose_names_collide_once_normalised_or_are_empty_are_refused(places: str) -> None:
    with pytest.raises(OrganisationInvalid):
        parse_organisation(DISTRICT_TEXT + places)


GAZ = (
    GazetteerPlace("幸福小区3号楼", 39.9101, 116.4012, ("幸福3号楼",)),
    GazetteerPlace("幸福小区", 39.9095, 116.4005),
    GazetteerPlace("AT&T大厦", 39.9000, 116.4000),
)


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("", NotFound()),
        ("   ", NotFound()),
        ("\u200b\u200b", NotFound()),
        ("幸", NotFound()),
        ("<b>幸福小区３号楼</b>", Found(GAZ[0])),
        ("幸福\u200b小区\u3000３号楼", Found(GAZ[0])),
        ("at&t大厦", Found(GAZ[2])),
        ("幸福", Ambiguous(("幸福小区3号楼", "幸福小区"))),
        ("幸福小区" * 5000, Found(GAZ[1])),
    ],
)
def test_odd_addresses_match_by_the_rule_or_not_at_all(address: str, expected: object) -> None:
    assert find(GAZ, address) == expected


# --- 4. map links at the ends of the Earth ---------------------------------------------------


@pytest.mark.parametrize(
    ("lat", "lon"),
    [(90.0, 180.0), (-90.0, -180.0), (0.0, 0.0), (51.5007, -0.1246), (-33.8568, 151.2153)],
)
def test_map_links_outside_china_give_the_point_as_sent(lat: float, lon: float) -> None:
    assert wgs84_to_gcj02(lat, lon) == (lat, lon)
    assert wgs84_to_bd09(lat, lon) == (lat, lon)
    name = '#7 <b>环境卫生</b> & "x"'
    for app in MapApp:
        url = map_link(app, lat, lon, name)
        assert "<" not in url and '"' not in url and " " not in url
        query = parse_qs(urlsplit(url).query)
        assert name in [v for values in query.values() for v in values] or app == MapApp.OSM
        numbers = {
            MapApp.AMAP: query.get("position", [""])[0],
            MapApp.BAIDU: query.get("location", [""])[0],
            MapApp.APPLE: query.get("ll", [""])[0],
            MapApp.OSM: f"{query['mlat'][0]},{query['mlon'][0]}" if "mlat" in query else "",
        }[app]
        values = sorted(float(v) for v in numbers.split(","))
        assert values == sorted([lat, lon])


def test_a_point_at_the_edge_of_chinas_box_converts_without_error() -> None:
    for lat, lon in ((55.8271, 137.8347), (0.8293, 72.004), (55.8271, 72.004)):
        g_lat, g_lon = wgs84_to_gcj02(lat, lon)
        b_lat, b_lon = wgs84_to_bd09(lat, lon)
        assert abs(g_lat - lat) < 0.01 and abs(g_lon - lon) < 0.01
        assert abs(b_lat - lat) < 0.02 and abs(b_lon - lon) < 0.02


# --- 5. quiet hours over days off (bot/deadlines.py after_quiet_hours) -----------------------

CALENDAR = WorkCalendar()


def local(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("moment", "quiet", "expected"),
    [
        # A day-time quiet window (lunch) on a Saturday: Monday when it ends.
        (local(2026, 11, 28, 9), (12 * 60, 14 * 60), local(2026, 11, 30, 14)),
        # Just before the night window on a Friday: not held.
        (local(2026, 11, 27, 21, 59), (22 * 60, 7 * 60), local(2026, 11, 27, 21, 59)),
        # The night window's last minute on a Monday morning: its end that morning.
        (local(2026, 11, 30, 6, 59), (22 * 60, 7 * 60), local(2026, 11, 30, 7)),
        # The window's end itself is not quiet.
        (local(2026, 11, 30, 7, 0), (22 * 60, 7 * 60), local(2026, 11, 30, 7)),
        # Sunday night: Monday 07:00.
        (local(2026, 11, 29, 23, 30), (22 * 60, 7 * 60), local(2026, 11, 30, 7)),
        # The eve of National Day late at night: the first working morning after the holiday.
        (local(2026, 9, 30, 22, 0), (22 * 60, 7 * 60), local(2026, 10, 8, 7)),
    ],
)
def test_quiet_hours_hold_a_reminder_to_the_right_moment(
    moment: datetime, quiet: tuple[int, int], expected: datetime
) -> None:
    far = local(2027, 6, 1, 0)
    assert after_quiet_hours(moment, quiet, SHANGHAI, CALENDAR, far) == expected
    # Never before the moment, whatever the deadline.
    for deadline in (moment, moment + timedelta(hours=1), far):
        assert after_quiet_hours(moment, quiet, SHANGHAI, CALENDAR, deadline) >= moment


def test_a_deadline_during_a_holiday_holds_only_for_the_night() -> None:
    moment = local(2026, 10, 2, 23)
    deadline = local(2026, 10, 3, 12)
    held = after_quiet_hours(moment, (22 * 60, 7 * 60), SHANGHAI, CALENDAR, deadline)
    assert held == local(2026, 10, 3, 7)


# --- 6. the whistle's new buttons, forged, stale, twice, with HTML ---------------------------

NASTY = "<b>已拆</b> & <i>未</i> &amp; </pre>"


async def answered(user: SimulatedUser, message: SentMessage, data: str) -> str:
    return (await user.answer_to(await user.tap_data(message, data))) or ""


async def test_forged_and_stale_whistle_buttons_change_nothing_and_html_stays_text(
    street: Street,
) -> None:
    number = await summoned_by_command(street, "cg", "zj", "hb")
    await all_on_site(street, number)
    lead, zj, hb = street.person(1002), street.person(1102), street.person(1302)
    zj_card = await zj.expect(f"#{number}", button="配合完成")
    hb_card = await hb.expect(f"#{number}", button="配合完成")
    lead_card = await lead.expect(f"#{number}", button="办结")
    # 配合完成 for another department, for the lead's, for an unsummoned one, for a
    # number that does not exist, with a malformed argument: refused, nothing changes.
    await street.settle()
    before = street.dump()
    for user, card, data in (
        (hb, hb_card, f"wd:{number}:zj"),
        (lead, lead_card, f"wd:{number}:cg"),
        (zj, zj_card, f"wd:{number}:sw"),
        (zj, zj_card, "wd:99999:zj"),
        (zj, zj_card, f"wd:{number}:zj:extra"),
        (zj, zj_card, f"wd:{number}:z j"),
        (zj, zj_card, f"wd:-{number}:zj"),
        (zj, zj_card, f"wf:{number}:submit"),  # 提交 with no prompt pending
        (zj, zj_card, f"wf:{number}:skip"),
        (zj, zj_card, f"wr:{number}:zj.satisfied"),  # a rating by a member, while open
        (zj, zj_card, f"ws:{number}"),  # 吹哨's picker by a member
        (zj, zj_card, f"wb:{number}"),
    ):
        answer = await answered(user, card, data)
        assert answer, data
    await street.settle()
    assert street.dump() == before
    # 配合完成 with a note full of HTML: kept as written, shown as text to the lead.
    mark, lead_mark = zj.mark(), lead.mark()
    await zj.tap(zj_card, "配合完成")
    await zj.expect("请写明本部门完成的工作", mark)
    await zj.send(NASTY)
    prompt = await zj.expect("配合完成的现场照片", mark, button="提交")
    first = await zj.tap(prompt, "提交")
    second = await zj.tap(prompt, "跳过")  # the stale 跳过 on the same prompt, at once
    await zj.answer_to(first)
    await zj.answer_to(second)
    await zj.expect(f"已报 #{number} 配合完成", mark)
    await street.settle()
    assert len([m for m in zj.inbox()[mark:] if f"已报 #{number} 配合完成" in m.text]) == 1
    told = await lead.expect(f"#{number}", lead_mark)
    assert NASTY in "\n".join(m.text for m in lead.inbox()[lead_mark:]), told.text
    stored = await whistle_store.get_summons(street.whistle.db.reader, number, "zj")
    assert stored is not None and stored.state == "done"
    # The co-department's stale 配合完成 again: refused.
    before = street.dump()
    assert await answered(zj, zj_card, f"wd:{number}:zj")
    await street.settle()
    assert street.dump() == before


async def test_the_street_rating_forged_twice_and_with_a_nasty_reason(street: Street) -> None:
    number = await summoned_by_command(street, "cg", "zj")
    lead, zj = street.person(1002), street.person(1102)
    await lead.tap(await lead.expect(f"#{number}", button="报到"), "报到")
    for uid in (1002, 1102):
        await arrive(street, street.person(uid), number, SITE, "已到场")
    await co_done(street, zj, number, "已拆除")
    await street.resolve(lead, number, "违建已拆除")
    worker, admin, mark = await confirmed(street)
    await street.settle()
    zj_card = await admin.expect(f"请评价 住建办 在 #{number}", mark, button="不满意")
    worker_msg = await worker.expect("违建已拆除")
    await street.settle()
    before = street.dump()
    # Forged ratings: by the reporter, of a department never summoned, of a value that
    # does not exist, of a department code full of symbols.
    for user, message, data in (
        (worker, worker_msg, f"wr:{number}:zj.satisfied"),
        (lead, worker_msg, f"wr:{number}:cg.satisfied"),
        (admin, zj_card, f"wr:{number}:sw.satisfied"),
        (admin, zj_card, f"wr:{number}:zj.great"),
        (admin, zj_card, f"wr:{number}:zj"),
        (admin, zj_card, f"wr:{number + 1}:zj.satisfied"),
    ):
        assert await answered(user, message, data), data
    await street.settle()
    assert street.dump() == before
    # Two taps on 不满意 at once: one rating, one reason prompt that counts.
    rated = admin.mark()
    data = next(d for label, d in zj_card.buttons() if label == "不满意")
    first, second = await admin.tap_data(zj_card, data), await admin.tap_data(zj_card, data)
    answers = [await admin.answer_to(first), await admin.answer_to(second)]
    assert sum("已评价" in (a or "") for a in answers) <= 1, answers
    await admin.expect("评价的理由", rated, button="跳过")
    stored = await whistle_store.get_summons(street.whistle.db.reader, number, "zj")
    assert stored is not None and stored.street_rating == "dissatisfied"
    # A reason over the limit is refused politely and the prompt waits; then one with HTML.
    limit = street.settings.max_text_length
    await admin.send("迟" * (limit + 1))
    await admin.expect(str(limit), rated)
    stored = await whistle_store.get_summons(street.whistle.db.reader, number, "zj")
    assert stored is not None and stored.street_reason is None
    await admin.send(NASTY)
    await admin.expect(f"已记下对 #{number} 的 住建办 的评价理由", rated)
    await street.settle()
    said = await street.api.expect(ZJ_GROUP, "评价理由")
    assert NASTY in said.text
    stored = await whistle_store.get_summons(street.whistle.db.reader, number, "zj")
    assert stored is not None and stored.street_reason == NASTY
    # The reason prompt's stale 跳过 afterwards: refused, nothing changes.
    prompt = await admin.expect("评价的理由", rated, button="跳过")
    before = street.dump()
    assert await answered(admin, prompt, prompt.button("跳过"))
    await street.settle()
    assert street.dump() == before


# --- 7. 延期's reason: checked when it is given, not after the date --------------------------


@pytest.mark.parametrize("reason", ["等" * 1001, "\u200b\u200b"])
async def test_an_unusable_extension_reason_is_refused_at_once_and_asked_again(
    street: Street, reason: str
) -> None:
    number, member = await held_issue(street)
    await ask(street, member, number, "申请延期", reason)
    mark = member.mark()
    await member.expect("文字", mark - 1)
    got = [m.text for m in member.inbox()[mark - 1 :]]
    assert not any("新的时限" in t or "+3" in t for t in got), got
    # Asked again: a good reason then carries on to the date.
    await member.send("等审批")
    prompt = await member.expect(f"#{number}", mark, button="+3")
    await member.tap(prompt, "+3")
    await member.expect("延期至", mark)


async def test_a_refusal_reason_over_the_limit_is_asked_again(street: Street) -> None:
    number, member = await held_issue(street)
    head, head_mark, mark = await refused_by_head(street, member, number)
    before = street.dump()
    await head.send("不" * (street.settings.max_text_length + 1))
    await head.expect("文字过长", head_mark + 1)
    assert street.dump() == before
    await head.send("这类问题必须按时办结")
    await head.expect("未获同意", head_mark + 1)
    told = await member.expect("延期申请未获同意", mark)
    assert "这类问题必须按时办结" in told.text


# --- 8. 重复 in a circle -----------------------------------------------------------------------


async def test_two_issues_cannot_be_closed_as_duplicates_of_each_other(office: Services) -> None:
    first, holder = await taken(office)
    second, other = await taken(office)
    await office.closures.request(holder, first, ClosureKind.DUPLICATE, f"#{second}", None)
    [(request_id,)] = rows(office, "SELECT id FROM closure_request WHERE issue_id = ?", first)
    await office.closures.decide(HEAD, request_id, approve=True)
    before = dump(office)
    with pytest.raises(Refused) as refused:
        await office.closures.request(other, second, ClosureKind.DUPLICATE, f"#{first}", None)
    assert refused.value.key == "cl_bad_duplicate"
    assert dump(office) == before


# --- 9. whistle demo --keep into the wrong place ---------------------------------------------


def test_the_demo_refuses_a_keep_path_that_is_a_file(tmp_path: Path) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("街道台账", encoding="utf-8")
    done = demo(target, tmp_path, "--quiet")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().startswith(f"whistle: {target}"), done.stderr
    assert target.read_text(encoding="utf-8") == "街道台账"


def test_the_demo_leaves_an_organisation_file_it_did_not_make_alone(tmp_path: Path) -> None:
    theirs = tmp_path / "district.toml"
    theirs.write_text("# 本街道的组织文件\n", encoding="utf-8")
    done = demo(tmp_path, tmp_path, "--quiet")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert str(theirs) in done.stderr
    assert theirs.read_text(encoding="utf-8") == "# 本街道的组织文件\n"
    assert not (tmp_path / "whistle.db").exists() and not (tmp_path / ".whistle-demo").exists()


# --- 10. concurrent taps over a slow network -------------------------------------------------

CG_GROUP = -1001000000001


async def test_two_members_tapping_ack_on_the_group_card_at_once_over_latency(
    street: Street,
) -> None:
    street.api.latency = 0.1
    worker = street.person(WORKER)
    number = await street.blow_whistle(worker)
    await street.settle()
    card = await street.api.expect(CG_GROUP, f"#{number}", button="报到")
    first, second = street.person(1003), street.person(1004)
    taps = [
        await first.tap(card, "报到"),
        await second.tap(card, "报到"),
        await first.tap(card, "报到"),
    ]
    answers = [
        await first.answer_to(taps[0]),
        await second.answer_to(taps[1]),
        await first.answer_to(taps[2]),
    ]
    await street.settle()
    acknowledged = [a for a in answers if a and "报到成功" in a]
    assert len(acknowledged) == 1, answers
    assert all(answers), answers
    with closing(sqlite3.connect(street.settings.database)) as conn:
        events = conn.execute(
            "SELECT COUNT(*) FROM issue_event WHERE issue_id = ? AND action = 'acknowledge'",
            (number,),
        ).fetchall()
    assert events == [(1,)], events
    # The group's card shows who took it, and no 报到 button any more.
    assert "报到" not in [label for label, _ in card.buttons()]


# --- 11. the whistle's place typed as an address: HTML, very long ----------------------------


async def test_a_nasty_or_huge_address_for_the_whistles_place_is_answered_as_text(
    street: Street,
) -> None:
    admin = street.person(ADMIN)
    number, mark = await asked_where(street, "路口有违建", "cg zj")
    before = street.dump()
    await admin.send(NASTY)
    answer = await admin.expect("地名册里没有找到", mark)
    assert NASTY in answer.text
    huge = "火星路" * 1300  # 3900 characters
    mark = admin.mark()
    await admin.send(huge)
    await admin.expect("请发送现场位置", mark)
    assert street.dump() == before
    # The prompt still waits: a pin blows the whistle.
    await admin.send_location(*SITE)
    await admin.expect(f"已为 #{number} 吹哨", mark)


async def test_a_hold_is_listed_for_its_holder_head_and_admins_and_review_is_admin_only(
    office: Services,
) -> None:
    number = await held_for_review(office)
    for listing in (
        await office.issues.to_do(MEMBER),
        await office.issues.to_do(HEAD),
        await office.issues.pending(ADMIN),
    ):
        shown = str(listing.text)
        assert f"#{number}" in shown and "挂账" in shown and "12-10" in shown, shown
    before = dump(office)
    for user in (MEMBER, HEAD, WORKER):
        with pytest.raises(Refused):
            await office.extensions.hold_more_prompt(user, number)
        with pytest.raises(Refused):
            await office.issues.pending(user)
    assert dump(office) == before


# --- 12. a restart in the middle of 配合完成 ---------------------------------------------------


async def test_a_restart_during_co_done_drops_the_prompt_politely_and_the_card_works(
    street: Street,
) -> None:
    number = await summoned_by_command(street, "cg", "zj")
    lead, zj = street.person(1002), street.person(1102)
    await lead.tap(await lead.expect(f"#{number}", button="报到"), "报到")
    for uid in (1002, 1102):
        await arrive(street, street.person(uid), number, SITE, "已到场")
    card = await zj.expect(f"#{number}", button="配合完成")
    mark = zj.mark()
    await zj.tap(card, "配合完成")
    await zj.expect("请写明本部门完成的工作", mark)
    await zj.send("已拆除一半")
    prompt = await zj.expect("配合完成的现场照片", mark, button="提交")
    await street.settle()
    await street.restart()
    before = street.dump()
    answer = await zj.answer_to(await zj.tap(prompt, "提交"))
    assert answer
    await street.settle()
    assert street.dump() == before
    # The card's 配合完成 starts it again.
    mark = zj.mark()
    await zj.tap(card, "配合完成")
    await zj.expect("请写明本部门完成的工作", mark)
    await zj.send("已全部拆除")
    await zj.tap(await zj.expect("配合完成的现场照片", mark, button="跳过"), "跳过")
    await zj.expect(f"已报 #{number} 配合完成", mark)
    stored = await whistle_store.get_summons(street.whistle.db.reader, number, "zj")
    assert stored is not None and stored.state == "done"


# --- 13. forged buttons of the new features with no prompt open ------------------------------


async def test_forged_date_review_and_decision_buttons_are_answered_and_change_nothing(
    street: Street,
) -> None:
    number, member = await held_issue(street)
    card = await member.expect(f"#{number}", button="申请延期")
    admin, worker = street.person(ADMIN), street.person(WORKER)
    await street.settle()
    before = street.dump()
    for user, data in (
        (member, f"hm:{number}:10"),
        (member, f"xd:{number}:3"),
        (member, f"hv:{number}:more"),
        (member, f"hv:{number}:go"),
        (member, f"hv:{number}:close"),
        (admin, f"hv:{number}:close"),  # not on 挂账
        (admin, f"hv:{number}:more"),
        (admin, f"hv:{number}:drop"),
        (admin, "hv:abc:go"),
        (member, "xy:99999"),
        (member, "xn:99999"),
        (worker, f"hold:{number}"),
        (worker, f"ext:{number}"),
        (admin, f"ext:{number}"),
        (member, f"ext:{number}:9"),
        (member, "ext:99999999999999999999"),
    ):
        answer = await user.answer_to(await user.tap_data(card, data))
        assert answer, data
    await street.settle()
    assert street.dump() == before


# --- 14. WHISTLE_MAP_LINKS written carelessly ------------------------------------------------


def test_map_links_setting_is_read_forgivingly_and_refuses_unknown_apps() -> None:
    def chosen(value: str) -> list[MapApp]:
        settings = Settings(
            telegram_token="123:abc",
            map_links=value,  # type: ignore[arg-type]
            _env_file=None,  # type: ignore[call-arg]
        )
        return list(settings.map_links)

    assert chosen(" AMAP， baidu ,amap,,") == [MapApp.AMAP, MapApp.BAIDU]
    assert chosen("") == []
    with pytest.raises(ValueError, match="google"):
        chosen("amap,google")


# --- 15. the admins' 改派 buttons after an escalation -------------------------------------------


async def test_an_escalated_issue_taken_at_last_drops_the_reroute_buttons(
    street: Street,
) -> None:
    number, admin, admin_card = await handed_back(street)
    await admin.answer_to(await admin.tap(admin_card, "住建办"))
    await street.settle()
    street.clock.set(WEDNESDAY_MORNING + timedelta(hours=3))
    await street.whistle.services.escalation.sweep()
    await street.settle()
    assert len(reroute_labels(admin_card.buttons())) > 1  # overdue: the street decides again
    # 住建办 takes it at last: the street has nothing to decide.
    group_card = await street.api.expect(ZJ_GROUP, f"#{number}", button="报到")
    taker = street.person(1103)
    await taker.answer_to(await taker.tap(group_card, "报到"))
    await street.settle()
    assert "处置中" in admin_card.text
    assert reroute_labels(admin_card.buttons()) == []


@pytest.mark.parametrize(
    "moment", [local(2026, 11, 27, 23), local(2026, 11, 28, 10), local(2026, 11, 29, 22, 30)]
)
def test_quiet_hours_ending_at_midnight_hold_a_weekend_reminder_only_until_monday(
    moment: datetime,
) -> None:
    """quiet = "22:00-24:00": the next working day's quiet hours end as it begins (the
    window that began the evening before ends at 00:00) — not at its own end, 24:00, which
    is Tuesday 00:00 and skipped the whole working Monday."""
    far = local(2027, 6, 1, 0)
    held = after_quiet_hours(moment, (22 * 60, 24 * 60), SHANGHAI, CALENDAR, far)
    assert held == local(2026, 11, 30, 0)
