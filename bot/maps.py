"""Links that open a reported place in a map app, for the issue card.

Telegram's locations are WGS-84; each app is given the point in the datum it draws
(bot/geo.py converts), so the pin lands where the worker stood."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from urllib.parse import quote, urlencode

from bot.geo import wgs84_to_bd09, wgs84_to_gcj02


class MapApp(StrEnum):
    AMAP = "amap"
    """高德地图 (GCJ-02)."""
    BAIDU = "baidu"
    """百度地图 (BD-09)."""
    OSM = "osm"
    """OpenStreetMap (WGS-84)."""
    APPLE = "apple"
    """Apple Maps (WGS-84 given; it shifts for China itself)."""


DEFAULT_MAPS: dict[str, tuple[MapApp, ...]] = {
    "zh": (MapApp.AMAP,),
    "en": (MapApp.OSM,),
}
"""The maps a card links to when WHISTLE_MAP_LINKS is not set, by the reader's language."""

SOURCE = "whistle"
"""Who opens the link, as 高德 and 百度 ask callers to say (their `src`)."""


def _degrees(value: float) -> str:
    return f"{value:.6f}"


def map_link(app: MapApp, lat: float, lon: float, name: str) -> str:
    """The address that shows the WGS-84 point (lat, lon) in `app`, its pin named `name`."""
    if app == MapApp.AMAP:
        g_lat, g_lon = wgs84_to_gcj02(lat, lon)
        query = {
            "position": f"{_degrees(g_lon)},{_degrees(g_lat)}",  # 高德: longitude first
            "name": name,
            "src": SOURCE,
            "coordinate": "gaode",
            "callnative": "1",
        }
        return "https://uri.amap.com/marker?" + urlencode(query, safe=",", quote_via=quote)
    if app == MapApp.BAIDU:
        b_lat, b_lon = wgs84_to_bd09(lat, lon)
        query = {
            "location": f"{_degrees(b_lat)},{_degrees(b_lon)}",  # 百度: latitude first
            "title": name,
            "content": name,
            "coord_type": "bd09ll",
            "output": "html",
            "src": f"webapp.{SOURCE}.card",
        }
        return "https://api.map.baidu.com/marker?" + urlencode(query, safe=",", quote_via=quote)
    if app == MapApp.APPLE:
        return "https://maps.apple.com/?" + urlencode(
            {"ll": f"{_degrees(lat)},{_degrees(lon)}", "q": name}, safe=",", quote_via=quote
        )
    spot = f"{_degrees(lat)}/{_degrees(lon)}"
    return (
        "https://www.openstreetmap.org/?"
        + urlencode({"mlat": _degrees(lat), "mlon": _degrees(lon)})
        + f"#map=18/{spot}"
    )


def maps_for(lang: str, chosen: Sequence[MapApp]) -> tuple[MapApp, ...]:
    """The maps a card in `lang` links to: those chosen (WHISTLE_MAP_LINKS), else the
    language's default (高德 in Chinese, OpenStreetMap in English)."""
    return tuple(chosen) or DEFAULT_MAPS.get(lang, DEFAULT_MAPS["zh"])
