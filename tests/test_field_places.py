"""Places on the card (map links converted to each app's datum), the admin's card after
改派, and the demo (what it shows, in order, and a second run into one --keep folder)."""

from __future__ import annotations

import html
import os
import re
import sqlite3
import subprocess
import sys
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest

from bot.geo import distance_meters, gcj02_to_bd09, wgs84_to_bd09, wgs84_to_gcj02
from bot.maps import MapApp, map_link, maps_for
from bot.message_limits import CAPTION_LIMIT, telegram_length
from bot.records import IssueRecord
from bot.settings import SettingsError, load_settings
from bot.views import Audience, Names, issue_card
from tests.conftest import WEDNESDAY_MORNING, Street, open_street
from tests.issue_record import issue_record
from whistle_testing import ApiCall, SentMessage, SimulatedUser

# Published WGS-84 → GCJ-02 pairs: the test vectors of eviltransform (googollee), which
# many ports of the public transform check against. (wgs lat, lon, gcj lat, lon)
WGS_GCJ = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),  # Shanghai
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),  # Shenzhen
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),  # Beijing
]
# Published GCJ-02 → BD-09 pair: wandergis/coordtransform's test (near Tiananmen).
GCJ_BD = (39.915, 116.404, 39.92133699351021, 116.41036949371029)
OUTSIDE_CHINA = [(51.50073, -0.12463), (40.68925, -74.04451), (-33.85678, 151.21530)]
BEIJING = WGS_GCJ[2][:2]
ZJ_GROUP = -1001000000002


# --- the conversion, on known points -----------------------------------------------------


@pytest.mark.parametrize(("lat", "lon", "gcj_lat", "gcj_lon"), WGS_GCJ)
def test_wgs84_to_gcj02_gives_the_published_point(
    lat: float, lon: float, gcj_lat: float, gcj_lon: float
) -> None:
    got = wgs84_to_gcj02(lat, lon)
    assert got == pytest.approx((gcj_lat, gcj_lon), abs=1e-7)


def test_gcj02_to_bd09_gives_the_published_point() -> None:
    lat, lon, bd_lat, bd_lon = GCJ_BD
    assert gcj02_to_bd09(lat, lon) == pytest.approx((bd_lat, bd_lon), abs=1e-7)


def test_wgs84_to_bd09_is_gcj02_then_bd09() -> None:
    assert wgs84_to_bd09(*BEIJING) == pytest.approx(gcj02_to_bd09(*wgs84_to_gcj02(*BEIJING)))


def test_unconverted_points_in_china_land_hundreds_of_metres_off() -> None:
    assert 300 < distance_meters(*BEIJING, *wgs84_to_gcj02(*BEIJING)) < 800
    assert 800 < distance_meters(*BEIJING, *wgs84_to_bd09(*BEIJING)) < 1500


@pytest.mark.parametrize(("lat", "lon"), OUTSIDE_CHINA, ids=["London", "New York", "Sydney"])
def test_points_outside_china_are_not_shifted(lat: float, lon: float) -> None:
    assert wgs84_to_gcj02(lat, lon) == (lat, lon)
    assert wgs84_to_bd09(lat, lon) == (lat, lon)
    assert f"mlat={lat:.6f}&mlon={lon:.6f}" in map_link(MapApp.OSM, lat, lon, "x")


# --- the links ---------------------------------------------------------------------------


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_each_app_gets_the_point_in_its_datum_and_its_order() -> None:
    lat, lon = BEIJING
    gcj_lat, gcj_lon = WGS_GCJ[2][2:]
    bd_lat, bd_lon = wgs84_to_bd09(lat, lon)
    amap = map_link(MapApp.AMAP, lat, lon, "#7 环境卫生")
    assert amap.startswith("https://uri.amap.com/marker?")
    assert query_of(amap)["position"] == f"{gcj_lon:.6f},{gcj_lat:.6f}"  # longitude first
    assert query_of(amap)["name"] == "#7 环境卫生"
    baidu = map_link(MapApp.BAIDU, lat, lon, "#7 环境卫生")
    assert baidu.startswith("https://api.map.baidu.com/marker?")
    assert query_of(baidu)["location"] == f"{bd_lat:.6f},{bd_lon:.6f}"  # latitude first
    assert query_of(baidu)["coord_type"] == "bd09ll" and query_of(baidu)["output"] == "html"
    assert query_of(baidu)["title"] == "#7 环境卫生"
    apple = map_link(MapApp.APPLE, lat, lon, "#7")
    assert query_of(apple)["ll"] == f"{lat:.6f},{lon:.6f}"  # WGS-84 as given
    osm = map_link(MapApp.OSM, lat, lon, "#7")
    assert (query_of(osm)["mlat"], query_of(osm)["mlon"]) == (f"{lat:.6f}", f"{lon:.6f}")
    assert " " not in amap + baidu + apple + osm


def test_the_maps_a_card_links_default_by_language_or_come_from_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert maps_for("zh", ()) == (MapApp.AMAP,)
    assert maps_for("en", ()) == (MapApp.OSM,)
    assert maps_for("en", (MapApp.BAIDU, MapApp.AMAP)) == (MapApp.BAIDU, MapApp.AMAP)
    monkeypatch.setenv("WHISTLE_MAP_LINKS", "baidu， AMAP,baidu")
    assert load_settings(_env_file=None).map_links == [MapApp.BAIDU, MapApp.AMAP]
    monkeypatch.setenv("WHISTLE_MAP_LINKS", "google")
    with pytest.raises(SettingsError) as wrong:
        load_settings(_env_file=None)
    assert str(wrong.value) == (
        "WHISTLE_MAP_LINKS is wrong: 'google' is not a map app (one of amap, baidu, osm, "
        "apple); for example WHISTLE_MAP_LINKS=amap,baidu"
    )


def located_issue(**changes: object) -> IssueRecord:
    """tests/issue_record.py's issue, at BEIJING unless `changes` say otherwise."""
    return issue_record(**{"latitude": BEIJING[0], "longitude": BEIJING[1], **changes})


def test_an_english_card_links_openstreetmap_at_the_point_as_shared() -> None:
    names = Names({}, {"sanitation": "Sanitation"}, {}, {})
    zone = ZoneInfo("Asia/Shanghai")
    card = issue_card("en", located_issue(), names, zone, Audience.GROUP).text
    osm = html.escape(map_link(MapApp.OSM, *BEIJING, "#7 Sanitation"))
    assert f'\nMap: <a href="{osm}">OpenStreetMap</a>\n' in card
    chosen = issue_card(
        "en", located_issue(), names, zone, Audience.GROUP, maps=[MapApp.APPLE, MapApp.BAIDU]
    ).text
    assert ">Apple Maps</a> · <a " in chosen and ">Baidu Maps</a>" in chosen
    unplaced = issue_card(
        "en", located_issue(latitude=None, longitude=None), names, zone, Audience.GROUP
    )
    assert "Map:" not in unplaced.text


# --- the card, over HTTP -----------------------------------------------------------------


def html_of(call: ApiCall) -> str:
    return str(call.params.get("text") or call.params.get("caption") or "")


def card_calls(street: Street, chat_id: int, number: int) -> list[ApiCall]:
    """The Bot API calls that sent or edited the issue's card in a chat (their HTML)."""
    return [
        c
        for c in street.api.calls
        if c.chat_id == chat_id
        and c.status == 200
        and f"#{number} " in re.sub(r"<[^>]*>", "", html_of(c))
    ]


async def test_a_shared_location_on_the_card_opens_in_amap_at_the_converted_point(
    street: Street,
) -> None:
    worker, member = street.person(2001), street.person(1002)
    number = await street.blow_whistle(worker, location=BEIJING)
    card = await member.expect(f"#{number}", button="报到")
    assert "地点：📍 39.91195, 116.37782\n地图：高德地图\n" in card.text
    gcj_lat, gcj_lon = WGS_GCJ[2][2:]
    link = html.escape(
        map_link(MapApp.AMAP, *BEIJING, f"#{number} 环境卫生")
    )  # & is &amp; inside HTML
    assert f"position={gcj_lon:.6f},{gcj_lat:.6f}&amp;" in link
    await street.api.expect(-1001000000001, f"#{number}", button="报到")
    for chat in (1002, -1001000000001):  # the member's card and the group's
        sent = card_calls(street, chat, number)[0]
        assert f'<a href="{link}">高德地图</a>' in html_of(sent)


async def test_the_address_the_worker_typed_is_on_the_card_and_no_map_without_a_point(
    street: Street,
) -> None:
    worker, member = street.person(2001), street.person(1002)
    typed = "幸福路12号<北门> & 东侧"
    number = await street.blow_whistle(worker, address=typed)
    card = await member.expect(f"#{number}", button="报到")
    assert f"地点：{typed}\n" in card.text
    assert "地图" not in card.text
    assert "幸福路12号&lt;北门&gt; &amp; 东侧" in html_of(card_calls(street, 1002, number)[0])


async def test_a_place_from_the_map_shows_its_name_and_links_every_chosen_map(
    tmp_path: Path, district_file: Path
) -> None:
    async with open_street(tmp_path, district_file, map_links="amap,baidu") as street:
        worker, member = street.person(2001), street.person(1002)
        mark = worker.mark()
        await street.open_report(worker)
        await worker.send("垃圾堆在店门口")
        await worker.tap(await worker.expect("请发送现场照片", mark), "跳过")
        await worker.expect("请发送位置", mark)
        venue = {
            "location": {"latitude": BEIJING[0], "longitude": BEIJING[1]},
            "title": "张记<小>卖部",
            "address": "幸福路8号 & 9号",
        }
        await worker.send_raw({"venue": venue, "location": venue["location"]})
        await worker.tap(await worker.expect("紧急程度", mark), "一般")
        await worker.tap(await worker.expect("请核对", mark), "提交")
        await worker.expect("已上报", mark)
        card = await member.expect("张记<小>卖部", button="报到")
        assert "地点：张记<小>卖部 幸福路8号 & 9号\n地图：高德地图 · 百度地图\n" in card.text
        sent = html_of(card_calls(street, 1002, 1)[0])
        for app in (MapApp.AMAP, MapApp.BAIDU):
            assert f'<a href="{html.escape(map_link(app, *BEIJING, "#1 环境卫生"))}">' in sent


async def test_a_long_report_with_a_photo_and_a_place_keeps_its_links_within_the_caption(
    street: Street,
) -> None:
    worker, member = street.person(2001), street.person(1002)
    number = await street.blow_whistle(worker, "环境卫生", "垃圾" * 500, photos=1, location=BEIJING)
    card = await member.expect(f"#{number}", button="报到")
    assert card.kind == "photo" and "地图：高德地图" in card.text and "…" in card.text
    assert telegram_length(card.text) <= CAPTION_LIMIT
    assert "uri.amap.com/marker" in html_of(card_calls(street, 1002, number)[0])


# --- the admin's card after 改派, over HTTP ------------------------------------------------


def reroute_labels(labels: list[tuple[str, str]]) -> list[str]:
    return [label for label, _ in labels if "改派" in label]


async def handed_back(street: Street) -> tuple[int, SimulatedUser, SentMessage]:
    """A noise report the environment bureau (1302) hands back (退回) for 住建办: its number,
    the admin and the admin's card offering 改派."""
    worker, admin, hb = street.person(2001), street.person(3001), street.person(1302)
    for person in (worker, admin, hb):
        await person.send("/start")
    number = await street.blow_whistle(worker, "噪音扰民", "工地夜间施工噪音")
    await hb.tap(await hb.expect(f"#{number}", button="退回"), "退回")
    await hb.expect("退回理由")
    await hb.send("工地施工归住建办管")
    return number, admin, await admin.expect(f"#{number}", button="住建办")


async def test_the_admins_card_follows_a_reroute_and_drops_its_reroute_buttons(
    street: Street,
) -> None:
    number, admin, admin_card = await handed_back(street)
    assert "已退回" in admin_card.text and len(reroute_labels(admin_card.buttons())) > 1
    assert await admin.answer_to(await admin.tap(admin_card, "住建办")) == (
        f"已改派 #{number} 至住建办。"
    )
    await street.settle()
    # 改派 done: the card shows where it went, and asks nothing more of the street.
    assert "待报到" in admin_card.text and "责任部门：住建办" in admin_card.text
    assert reroute_labels(admin_card.buttons()) == []
    group_card = await street.api.expect(ZJ_GROUP, f"#{number}", button="报到")
    await street.person(1103).answer_to(await street.person(1103).tap(group_card, "报到"))
    await street.settle()
    assert "处置中" in admin_card.text and reroute_labels(admin_card.buttons()) == []
    # An old 改派 tap on the card changes nothing.
    before = street.dump()
    answer = await admin.answer_to(await admin.tap_data(admin_card, f"rr:{number}:cg"))
    assert answer is not None and street.dump() == before


async def test_an_overdue_rerouted_issue_puts_the_reroute_buttons_back_on_the_admins_card(
    street: Street,
) -> None:
    number, admin, admin_card = await handed_back(street)
    assert await admin.answer_to(await admin.tap(admin_card, "住建办")) == (
        f"已改派 #{number} 至住建办。"
    )
    await street.settle()
    assert reroute_labels(admin_card.buttons()) == []
    # Nobody at 住建办 reports in: a deadline and another later, the street is told.
    street.clock.set(WEDNESDAY_MORNING + timedelta(hours=3))
    await street.whistle.services.escalation.sweep()
    await street.settle()
    await admin.expect("升级至街道")
    assert len([m for m in admin.inbox() if f"#{number} " in m.text and "状态" in m.text]) == 1
    assert "住建办" in str(admin_card.buttons()) and len(reroute_labels(admin_card.buttons())) > 1


# --- the demo, as a process --------------------------------------------------------------


def demo(folder: Path, cwd: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHISTLE_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "demo", "--keep", str(folder), *extra],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = process.communicate(timeout=240)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def test_the_demo_shows_photos_and_places_and_each_prompt_before_its_answer_twice_in_one_folder(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "demo-data"
    first = demo(folder, tmp_path)
    assert first.returncode == 0, first.stderr
    out = first.stdout
    assert "👤 王芳（网格员）: 📷 照片\n" in out
    assert "👤 王芳（网格员）: 📍 位置 39.91234, 116.40456\n" in out
    assert "👤 张伟（城管）: 📍 位置 39.91530, 116.40310\n" in out
    assert ": user\n" not in out
    assert out.index("请发送现场照片") < out.index("📷 照片")
    second_report = out[out.index("━━ 4.") :]
    for prompt, answer in (
        ("请用文字描述问题", "和平路工地夜间施工"),
        ("请发送位置", "和平路与建设街交叉口东北角工地"),
    ):
        assert second_report.index(prompt) < second_report.index(f"👤 王芳（网格员）: {answer}")
    assert "不再显示改派按钮" in out and "地图：高德地图" in out
    second = demo(folder, tmp_path, "--quiet")
    assert second.returncode == 0, second.stderr
    assert "Done:" in second.stdout
    with closing(sqlite3.connect(folder / "whistle.db")) as conn:
        assert conn.execute("SELECT COUNT(*) FROM issue").fetchone()[0] == 3


def test_the_demo_leaves_a_database_it_did_not_make_alone(tmp_path: Path) -> None:
    theirs = tmp_path / "whistle.db"
    with closing(sqlite3.connect(theirs)) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
        conn.execute("INSERT INTO notes VALUES ('街道台账')")
        conn.commit()
    before = theirs.read_bytes()
    done = demo(tmp_path, tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"whistle: {theirs} was not made by the demo: give --keep an empty folder, or the "
        "folder of an earlier demo run (its database is replaced)"
    )
    assert theirs.read_bytes() == before and not (tmp_path / ".whistle-demo").exists()
