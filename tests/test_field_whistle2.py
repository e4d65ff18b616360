"""联合吹哨, the rest of issue #16: no private calls across services, the whole card within
Telegram's limits, photos with 配合完成 and a reason with the street's rating, a place
given as an address (the street's gazetteer), the whistle rows and series in the
statistics, and the whistle in the crash bench."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot import gazetteer
from bot.gazetteer import Ambiguous, Found, NotFound, normalise
from bot.message_limits import CAPTION_LIMIT, TEXT_LIMIT, telegram_length
from bot.organisation import OrganisationInvalid, parse_organisation
from bot.services import Refused
from storage import whistles as whistle_store
from tests.conftest import Street, open_street
from tests.test_whistle import SITE, ZJ_GROUP, all_on_site, arrive, summoned_by_command

ROOT = Path(__file__).resolve().parent.parent
ALL_DEPARTMENTS = ("cg", "zj", "sj", "hb", "yj", "pcs", "sw", "gd")


# --- 1. services call each other only through public methods --------------------------


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
    worker, admin = street.person(2001), street.person(3001)
    mark = admin.mark()
    await worker.tap(await worker.expect("违建已拆除", button="确认"), "确认")
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
        number = await street.blow_whistle(worker, "违章建筑", "路口有违建")
        await street.settle()
        mark = admin.mark()
        await admin.send(f"/whistle {number} cg zj")
        await admin.expect(f"#{number} 没有位置", mark)
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
        number = await street.blow_whistle(worker, "违章建筑", "不知名的地方")
        await street.settle()
        mark = admin.mark()
        await admin.send(f"/whistle {number} cg")
        await admin.expect(f"#{number} 没有位置", mark)
        await admin.send("没听说过的地方")
        await admin.expect("地名册里没有找到", mark)
        await admin.send_location(*SITE)
        await admin.expect(f"已为 #{number} 吹哨：城管执法中队", mark)
        whistle = await whistle_store.get_whistle(reader, number)
        assert whistle is not None and (whistle.latitude, whistle.longitude) == SITE
