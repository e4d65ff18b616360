"""联合吹哨, the rest of issue #16: no private calls across services, the whole card within
Telegram's limits, photos with 配合完成 and a reason with the street's rating, a place
given as an address (the street's gazetteer), the whistle rows and series in the
statistics, and the whistle in the crash bench."""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings

from bench.crash import run_whistles
from bot import gazetteer
from bot.cli import _stats as cli_stats
from bot.gazetteer import Ambiguous, Found, NotFound, normalise
from bot.message_limits import CAPTION_LIMIT, TEXT_LIMIT, telegram_length
from bot.organisation import OrganisationInvalid, parse_organisation, routing_changes
from bot.services import Refused
from bot.services.statistics import Scope
from bot.stats import Grouping, SummonsRow, week_label, whistle_figures
from bot.stats_views import (
    WHISTLE_COLUMNS,
    chart_series,
    report_chart,
    report_json,
    whistle_rows,
)
from bot.views import Names
from storage import whistles as whistle_store
from tests import stats_oracle as oracle
from tests.conftest import Street, open_street
from tests.test_whistle import (
    SITE,
    ZJ_GROUP,
    all_on_site,
    arrive,
    resolved_whistle,
    summoned_by_command,
)
from whistle_testing import SimulatedUser

ROOT = Path(__file__).resolve().parent.parent
UTC_ZONE = ZoneInfo("UTC")
ALL_DEPARTMENTS = ("cg", "zj", "sj", "hb", "yj", "pcs", "sw", "gd")


# --- 1. services call each other only through public methods --------------------------


async def confirmed(street: Street) -> tuple[SimulatedUser, SimulatedUser, int]:
    """The reporter (2001) confirms the resolved whistle (违建已拆除), so the admin (3001) is
    asked to rate each department: the reporter, the admin and the admin's mark from before."""
    worker, admin = street.person(2001), street.person(3001)
    mark = admin.mark()
    await worker.tap(await worker.expect("违建已拆除", button="确认"), "确认")
    return worker, admin, mark


async def asked_where(street: Street, description: str, codes: str) -> tuple[int, int]:
    """A 违章建筑 report by 2001 with no place, and the admin's (3001) `/whistle <number>
    <codes>` for it, which asks where: its number and the admin's mark from before."""
    admin = street.person(3001)
    number = await street.blow_whistle(street.person(2001), "违章建筑", description)
    await street.settle()
    mark = admin.mark()
    await admin.send(f"/whistle {number} {codes}")
    await admin.expect(f"#{number} 没有位置", mark)
    return number, mark


def test_no_service_calls_another_services_private_methods() -> None:
    """`self.issues._choose(...)` and the like: a service reaches another only through its
    documented public methods."""
    private_call = re.compile(r"self\.(?!db\b)([a-z_]+)\._[a-z][a-z_]*\(")
    found = [
        f"{path.name}: {match.group(0)}"
        for path in sorted((ROOT / "bot" / "services").glob("*.py"))
        for match in private_call.finditer(path.read_text(encoding="utf-8"))
    ]
    assert found == []


# --- 2. the whole card, the whistle's section included, fits -------------------------


async def test_a_long_card_with_every_department_fits_with_its_whistle_section(
    tmp_path: Path, district_file: Path
) -> None:
    async with open_street(tmp_path, district_file, max_text_length=3000) as street:
        # 3,000 characters, 4,000 UTF-16 units (an emoji counts two): over a message alone.
        description = "🚧违建" * 1000
        worker = street.person(2001)
        number = await street.blow_whistle(worker, "违章建筑", description, photos=1, location=SITE)
        await street.settle()
        admin = street.person(3001)
        mark = admin.mark()
        await admin.send(f"/whistle {number} {' '.join(ALL_DEPARTMENTS)}")
        await admin.expect(f"已为 #{number} 吹哨", mark)
        await street.settle()
        # The group's card (a message): one message, every department, the title, fits.
        card = await street.api.expect(ZJ_GROUP, "联合吹哨 · 牵头", button="到场")
        assert card.text.startswith("🔔 #") and f"#{number}" in card.text
        assert telegram_length(card.text) <= TEXT_LIMIT
        for line in ("城管执法中队（牵头）：待到场", "住建办：待到场", "供电所：待到场"):
            assert line in card.text
        assert "…" in card.text  # the description gave way
        # The lead's card came with the report's photo: its caption (1,024) holds it too.
        lead = street.person(1002)
        captioned = [m for m in lead.inbox() if m.kind == "photo" and f"#{number}" in m.text]
        assert captioned, "the lead's photo card"
        caption = captioned[-1].text
        assert telegram_length(caption) <= CAPTION_LIMIT
        assert "联合吹哨 · 牵头" in caption and "供电所：待到场" in caption
        # An edit in place (the departments' states change) still fits, in one piece.
        await arrive(street, street.person(1102), number, SITE, "已到场")
        card = await street.api.expect(ZJ_GROUP, "住建办：已到场")
        assert telegram_length(card.text) <= TEXT_LIMIT and "供电所：待到场" in card.text


# --- 3. photos with 配合完成, a reason with the street's rating ------------------------


async def test_co_done_carries_photos_and_a_rating_carries_a_reason(street: Street) -> None:
    number = await summoned_by_command(street, "cg", "zj", "hb")
    await all_on_site(street, number)
    lead, zj, hb = street.person(1002), street.person(1102), street.person(1302)
    # 住建办: a note and two photos, then 提交.
    mark, lead_mark = zj.mark(), lead.mark()
    await zj.tap(await zj.expect(f"#{number}", button="配合完成"), "配合完成")
    await zj.expect("请写明本部门完成的工作", mark)
    await zj.send("已拆除棚子骨架")
    await zj.expect(f"可发送 #{number} 配合完成的现场照片", mark, button="跳过")
    first = await zj.send_photo()
    await zj.expect("已收到 1 张照片", mark)
    second = await zj.send_photo()
    await zj.tap(await zj.expect("已收到 2 张照片", mark, button="提交"), "提交")
    await zj.expect(f"已报 #{number} 配合完成", mark)
    await street.settle()
    album = await lead.expect(f"#{number} 住建办 配合完成的照片", lead_mark)
    assert album.kind == "photo"
    assert await whistle_store.step_photos(street.whistle.db.reader, number) == [
        ("zj", first),
        ("zj", second),
    ]
    # 生态环境分局: text where a photo is asked for is answered politely; then 跳过.
    mark = hb.mark()
    await hb.tap(await hb.expect(f"#{number}", button="配合完成"), "配合完成")
    await hb.send("土壤无污染")
    prompt = await hb.expect("配合完成的现场照片", mark)
    before = street.dump()
    await hb.send("没有照片")
    await hb.expect("请发送照片，或点“提交”", mark)
    assert street.dump() == before
    await hb.tap(prompt, "跳过")
    await hb.expect(f"已报 #{number} 配合完成", mark)
    await street.settle()
    # Resolved, confirmed; the street rates 住建办 with a reason and 城管 without one.
    await street.resolve(lead, number, "违建已拆除")
    _, admin, mark = await confirmed(street)
    await street.settle()
    zj_card = await admin.expect(f"请评价 住建办 在 #{number}", mark, button="不满意")
    cg_card = await admin.expect(f"请评价 城管执法中队 在 #{number}", mark, button="满意")
    rated = admin.mark()
    await admin.tap(zj_card, "不满意")
    await admin.expect(f"已评价 #{number} 的 住建办", rated)
    await admin.expect("评价的理由", rated, button="跳过")
    await admin.send("到场晚了四十分钟")
    await admin.expect(f"已记下对 #{number} 的 住建办 的评价理由", rated)
    rated = admin.mark()
    await admin.tap(cg_card, "满意")
    await admin.tap(await admin.expect("评价的理由", rated, button="跳过"), "跳过")
    await admin.expect("好的，不写理由", rated)
    await street.settle()
    await street.api.expect(ZJ_GROUP, f"#{number}：街道对 住建办 的评价理由：到场晚了四十分钟")
    stored = await whistle_store.get_summons(street.whistle.db.reader, number, "zj")
    assert stored is not None and stored.street_reason == "到场晚了四十分钟"
    cg = await whistle_store.get_summons(street.whistle.db.reader, number, "cg")
    assert cg is not None and cg.street_rating == "satisfied" and cg.street_reason is None
    # A second reason, or one from somebody who is not an admin: refused, nothing changes.
    before = street.dump()
    whistles = street.whistle.services.whistles
    with pytest.raises(Refused) as again:
        await whistles.rate_reason(3001, number, "zj", "再说一次")
    assert again.value.key == "wh_reason_taken"
    with pytest.raises(Refused) as member:
        await whistles.rate_reason(1002, number, "cg", "我来写")
    assert member.value.key == "not_admin"
    assert street.dump() == before
    # Every step on the timeline.
    mark = admin.mark()
    await admin.send(f"/issue {number}")
    history = (await admin.expect("处置全过程", mark)).text
    assert "配合完成 · 住建办：已拆除棚子骨架（附照片 2 张）" in history
    assert "配合完成 · 生态环境分局：土壤无污染" in history
    assert "街道评价 · 住建办：不满意" in history
    assert "评价理由 · 住建办：到场晚了四十分钟" in history


# --- 4. a place given as an address: the street's gazetteer, offline -------------------

GAZETTEER = """
[[place]]
name = "幸福小区3号楼"
lat = 39.9101
lon = 116.4012
aliases = ["幸福3号楼", "Xingfu Building 3"]

[[place]]
name = "幸福小区"
lat = 39.9095
lon = 116.4005

[[place]]
name = "和平小区3号楼"
lat = 39.9120
lon = 116.4100

[[place]]
name = "建国路与东大桥路口"
lat = 39.9080
lon = 116.4300
aliases = ["东大桥路口"]
"""
PLACES = tuple(
    p
    for p in parse_organisation(
        (ROOT / "bot" / "data" / "district.toml").read_text(encoding="utf-8") + GAZETTEER
    ).places
)


def test_addresses_are_normalised_and_matched_by_the_rule() -> None:
    assert normalise("幸福小区 ３号楼") == "幸福小区3号楼"  # full width, spaces
    assert normalise("Ｘｉｎｇｆｕ　Building-3") == "xingfubuilding3"
    by_name = {p.name: p for p in PLACES}
    cases: list[tuple[str, gazetteer.Match]] = [
        ("幸福小区３号楼", Found(by_name["幸福小区3号楼"])),  # the name, full width
        ("xingfu building 3", Found(by_name["幸福小区3号楼"])),  # an alias, any case
        ("幸福小区 3号楼东侧人行道", Found(by_name["幸福小区3号楼"])),  # the longest inside
        ("幸福小区北门", Found(by_name["幸福小区"])),
        ("东大桥路口西南角", Found(by_name["建国路与东大桥路口"])),
        ("建国路", Found(by_name["建国路与东大桥路口"])),  # part of exactly one place
        ("3号楼", Ambiguous(("幸福小区3号楼", "和平小区3号楼"))),
        ("火星路100号", NotFound()),
        ("3", NotFound()),  # too short to mean anything
        ("  ", NotFound()),
    ]
    for address, expected in cases:
        assert gazetteer.find(PLACES, address) == expected, address
    assert gazetteer.find((), "幸福小区") == NotFound()


def test_org_check_validates_the_gazetteer(tmp_path: Path) -> None:
    district = (ROOT / "bot" / "data" / "district.toml").read_text(encoding="utf-8")
    bad = (
        district
        + GAZETTEER
        + """
[[place]]
name = "幸福 3号楼"
lat = 39.91
lon = 116.40

[[place]]
name = "A"
lat = 95.0
lon = 116.40

[[place]]
name = "远处"
lat = 39.91
lon = 116.40
colour = "red"
"""
    )
    with pytest.raises(OrganisationInvalid) as invalid:
        parse_organisation(bad)
    messages = [str(e) for e in invalid.value.errors]
    assert any("[[place]] #6 (A) lat" in m and "less than or equal to 90" in m for m in messages)
    assert any("[[place]] #7 (远处) colour" in m for m in messages)
    # Names and aliases: checked once the types are right.
    fixed = bad.replace("lat = 95.0", "lat = 39.90").replace('colour = "red"\n', "")
    with pytest.raises(OrganisationInvalid) as invalid:
        parse_organisation(fixed)
    messages = [str(e) for e in invalid.value.errors]
    assert len(messages) == 2, messages
    assert "[[place]] #5 (幸福 3号楼) name:" in messages[0]
    assert "also names place #1 (幸福小区3号楼)" in messages[0]
    assert "line " in messages[0]
    assert "[[place]] #6 (A) name: 'A' is too short" in messages[1]
    # The command line: the errors with their lines, or OK with the places counted and a
    # warning for a place far from the others.
    env = {**os.environ, "WHISTLE_DATABASE": str(tmp_path / "cli.db")}
    (tmp_path / "bad.toml").write_text(fixed, encoding="utf-8")
    good = district + GAZETTEER + '\n[[place]]\nname = "错位的点"\nlat = 36.91\nlon = 116.40\n'
    (tmp_path / "good.toml").write_text(good, encoding="utf-8")

    def whistle(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot", *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    checked = whistle("org", "check", "bad.toml")
    assert checked.returncode == 1 and "2 error(s)" in checked.stderr
    assert "also names place #1" in checked.stderr and "is too short" in checked.stderr
    checked = whistle("org", "check", "good.toml")
    assert checked.returncode == 0, checked.stderr
    assert "5 places" in checked.stdout
    assert "[[place]] 错位的点 is 334 km from the street's other places" in checked.stderr


def test_an_import_names_what_it_changes_in_the_gazetteer() -> None:
    district = (ROOT / "bot" / "data" / "district.toml").read_text(encoding="utf-8")
    before = parse_organisation(district + GAZETTEER)
    changed = GAZETTEER.replace("lat = 39.9120", "lat = 39.9130").replace(
        '[[place]]\nname = "幸福小区"\nlat = 39.9095\nlon = 116.4005\n', ""
    )
    after = parse_organisation(
        district + changed + '[[place]]\nname = "新市场"\nlat = 39.91\nlon = 116.41\n'
    )
    assert routing_changes(before, after) == [
        "place 新市场 added",
        "place 幸福小区 removed",
        "place 和平小区3号楼 changed (39.912, 116.41 → 39.913, 116.41; aliases -)",
    ]
    assert routing_changes(before, parse_organisation(district + GAZETTEER)) == []


def _street_with_places(district_file: Path) -> None:
    district_file.write_text(
        district_file.read_text(encoding="utf-8") + GAZETTEER, encoding="utf-8"
    )


async def test_a_place_by_address_from_the_gazetteer_else_a_pin(
    tmp_path: Path, district_file: Path
) -> None:
    _street_with_places(district_file)
    async with open_street(tmp_path, district_file) as street:
        worker, admin = street.person(2001), street.person(3001)
        reader = street.whistle.db.reader
        # The report's own address is in the gazetteer: the whistle needs nothing more.
        number = await street.blow_whistle(
            worker, "违章建筑", "楼下违建", address="幸福小区３号楼 东侧"
        )
        mark = admin.mark()
        await admin.send(f"/whistle {number} cg zj")
        await admin.expect(f"已为 #{number} 吹哨：城管执法中队、住建办", mark)
        whistle = await whistle_store.get_whistle(reader, number)
        assert whistle is not None and (whistle.latitude, whistle.longitude) == (39.9101, 116.4012)
        # No place at all: asked; an unknown address and an ambiguous one are answered
        # politely and change nothing; a known one blows the whistle there.
        number, mark = await asked_where(street, "路口有违建", "cg zj")
        before = street.dump()
        await admin.send("火星路100号")
        await admin.expect("地名册里没有找到“火星路100号”。请发送现场位置", mark)
        await admin.send("3号楼")
        await admin.expect("“3号楼”可能是：幸福小区3号楼、和平小区3号楼", mark)
        assert street.dump() == before
        await admin.send("东大桥路口 西南角")
        await admin.expect(
            f"已为 #{number} 吹哨：城管执法中队、住建办。地点：建国路与东大桥路口（按地名册）",
            mark,
        )
        whistle = await whistle_store.get_whistle(reader, number)
        assert whistle is not None and (whistle.latitude, whistle.longitude) == (39.908, 116.43)
        # Unknown, then a location pin: the pin is the place.
        number, mark = await asked_where(street, "不知名的地方", "cg")
        await admin.send("没听说过的地方")
        await admin.expect("地名册里没有找到", mark)
        await admin.send_location(*SITE)
        await admin.expect(f"已为 #{number} 吹哨：城管执法中队", mark)
        whistle = await whistle_store.get_whistle(reader, number)
        assert whistle is not None and (whistle.latitude, whistle.longitude) == SITE


# --- 5. the whistle rows, the chart's series, the figures per member ------------------


async def rated_whistle(street: Street) -> int:
    """tests/test_whistle.py's `resolved_whistle`, confirmed by the reporter and rated by the
    street 满意 / 不满意 (with a reason) / 基本满意."""
    number = await resolved_whistle(street)
    _, admin, mark = await confirmed(street)
    for name, rating, reason in (
        ("城管执法中队", "满意", None),
        ("住建办", "不满意", "迟到四十分钟"),
        ("生态环境分局", "基本满意", None),
    ):
        card = await admin.expect(f"请评价 {name} 在 #{number}", mark, button="满意")
        rated = admin.mark()
        await admin.tap_data(card, next(d for label, d in card.buttons() if label == rating))
        asked = await admin.expect("评价的理由", rated)
        if reason:
            await admin.send(reason)
            await admin.expect("已记下", rated)
        else:
            await admin.tap(asked, "跳过")
            await admin.expect("不写理由", rated)
    await street.settle()
    return number


def xlsx_sheets(data: bytes) -> dict[str, str]:
    """Each sheet's name and its XML (xlsxwriter's constant-memory mode writes strings
    inline, so a sheet's texts are in its XML)."""
    with zipfile.ZipFile(io.BytesIO(data)) as book:
        workbook = book.read("xl/workbook.xml").decode()
        names = re.findall(r'<sheet name="([^"]+)"', workbook)
        return {
            name: book.read(f"xl/worksheets/sheet{i}.xml").decode()
            for i, name in enumerate(names, start=1)
        }


async def test_the_whistle_rows_series_and_member_figures(street: Street) -> None:
    number = await rated_whistle(street)
    statistics = street.whistle.services.statistics
    week = week_label(street.clock.now(), street.whistle.services.zone)
    # Figures per member: the member who checked in on site.
    report = await statistics.report(week)
    body = report_json(report, await statistics.names())
    members = {m["key"]: m for m in body["members"]}
    assert {k: members["1102"][k] for k in ("whistles", "arrived", "arrived_on_time")} == {
        "whistles": 1,
        "arrived": 1,
        "arrived_on_time": 0,
    }
    assert members["1102"]["arrive_median_seconds"] == 40 * 60
    assert members["1102"]["street_satisfaction_rate"] == 0.0
    assert members["1302"]["on_site_rate"] == 1.0 and members["1302"]["received"] == 0
    assert members["1002"]["received"] == 1 and members["1002"]["whistles"] == 1
    # The "whistles" file: one row per issue and summoned department.
    data = await cli_stats(street.settings, week, "whistles-csv", None)
    assert data is not None
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert table[0][:4] == ["问题编号", "被召集部门代码", "被召集部门", "是否牵头"]
    assert len(table[0]) == len(WHISTLE_COLUMNS)
    by_department = {row[1]: dict(zip(WHISTLE_COLUMNS, row, strict=True)) for row in table[1:]}
    assert set(by_department) == {"cg", "zj", "hb"}
    zj = by_department["zj"]
    assert zj["issue"] == str(number) and zj["lead"] == "0" and zj["department_name"] == "住建办"
    assert zj["summoned_at"] == "2026-11-25 10:00:00"
    assert zj["arrived_at"] == "2026-11-25 10:40:00" and zj["arrive_seconds"] == "2400"
    assert zj["arrived_by_name"] == "周杰" and zj["distance_meters"] == "20"
    assert zj["arrived_on_time"] == "0"
    assert (zj["street_rating_name"], zj["street_reason"]) == ("不满意", "迟到四十分钟")
    assert by_department["cg"]["lead"] == "1" and by_department["cg"]["arrived_on_time"] == "1"
    assert by_department["hb"]["distance_meters"] == "85"
    # The XLSX has a "whistles" sheet with the same rows; the weekly bundle a CSV file.
    bundle = await statistics.bundle(week, Scope(), "zh")
    sheets = xlsx_sheets(bundle.xlsx)
    assert list(sheets) == ["汇总", "明细", "联合吹哨"]
    assert "迟到四十分钟" in sheets["联合吹哨"] and "周杰" in sheets["联合吹哨"]
    assert bundle.whistles_csv == data
    # The chart: on-site rate per department as a series of its own.
    series = dict(chart_series(report))
    on_site = dict(
        zip([g.key for g in report.departments], series["st_chart_on_site"], strict=True)
    )
    assert on_site == {"cg": 100.0, "zj": 0.0, "hb": 100.0}
    trend = await statistics.trend(week)
    assert report_chart(report, trend, await statistics.names(), "zh").startswith(b"\x89PNG")


async def test_a_week_without_whistles_has_no_whistle_sheet_file_or_series(
    street: Street,
) -> None:
    await street.blow_whistle(street.person(2001), "环境卫生", "垃圾满溢")
    statistics = street.whistle.services.statistics
    week = week_label(street.clock.now(), street.whistle.services.zone)
    report = await statistics.report(week)
    assert [key for key, _ in chart_series(report)] == [
        "st_chart_on_time_ack",
        "st_chart_on_time_resolve",
    ]
    bundle = await statistics.bundle(week, Scope(), "zh")
    assert bundle.whistles_csv is None
    assert list(xlsx_sheets(bundle.xlsx)) == ["汇总", "明细"]


@given(oracle.summons_rows(checked_in=True))
@settings(max_examples=150, deadline=None)
def test_member_figures_and_rows_match_the_oracle(rows: list[SummonsRow]) -> None:
    """The figures per member and the "whistles" rows against the plain reading of the
    definitions (tests/stats_oracle.py)."""
    computed = whistle_figures(rows)
    expected = oracle.whistle_members(rows)
    got = {
        member: {name: getattr(f, name.removesuffix("_seconds")) for name in expected[member]}
        for member, f in computed[Grouping.MEMBER].items()
    }
    assert got == expected
    names = Names({}, {}, {}, {})
    for row, cells in zip(rows, whistle_rows(rows, names, UTC_ZONE, "zh"), strict=True):
        shown = dict(zip(WHISTLE_COLUMNS, cells, strict=True))
        assert {k: shown[k] for k in oracle.whistle_row(row)} == oracle.whistle_row(row)


# --- 6. bench/crash.py kills the bot during whistles ---------------------------------


async def test_killing_the_bot_during_whistles_loses_no_arrival_rating_or_push(
    tmp_path: Path,
) -> None:
    """The bot (a real `whistle run` subprocess) is killed right after the whistle is
    blown, after the first 到场 and after the first rating: everything it acknowledged is
    stored, every summons push and rating card arrived."""
    outcome = await run_whistles(kills=3, seed=5, folder=tmp_path, whistles=1)
    assert outcome.kills == 3
    assert outcome.problems == []
    assert len(outcome.arrivals) == 3 and len(outcome.ratings) == 3
    assert len(outcome.co_done) == 2
