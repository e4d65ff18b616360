"""Distances on the Earth's surface, for 附议 (reports of the same problem nearby)."""

from __future__ import annotations

import math

EARTH_RADIUS_METERS = 6_371_008.8
"""The mean radius (IUGG), which a spherical model uses for the least average error."""


def distance_meters(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """The great-circle distance between two points in degrees (haversine), in metres.
    Well-conditioned for the short distances 附议 compares (a few hundred metres)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_phi = phi2 - phi1
    d_lambda = math.radians(lon2 - lon1)
    h = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_METERS * math.asin(min(1.0, math.sqrt(h)))


# Map links: Telegram's locations are WGS-84; 高德 (Amap) draws GCJ-02 and 百度 BD-09, so a
# point passed to them unconverted lands a few hundred metres off. The transforms are the
# well-known public approximations (about a metre of error), applied only inside China's
# rough bounding box, as the map apps themselves do: a point outside it is not shifted.

_KRASOVSKY_A = 6_378_245.0
"""The Krasovsky 1940 ellipsoid's semi-major axis, which GCJ-02's offsets are scaled by."""
_KRASOVSKY_EE = 0.00669342162296594323
"""…and its first eccentricity squared."""
_BD_X_PI = math.pi * 3000.0 / 180.0


def in_china(lat: float, lon: float) -> bool:
    """Whether GCJ-02 shifts this point: the rough box of mainland China the public
    transforms use (Hong Kong, Macao and Taiwan fall inside it, as in those transforms)."""
    return 72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271


def _shift_lat(x: float, y: float) -> float:
    shift = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    shift += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2 / 3
    shift += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2 / 3
    shift += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2 / 3
    return shift


def _shift_lon(x: float, y: float) -> float:
    shift = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    shift += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2 / 3
    shift += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2 / 3
    shift += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2 / 3
    return shift


def wgs84_to_gcj02(lat: float, lon: float) -> tuple[float, float]:
    """A WGS-84 point (Telegram's, GPS's) as (lat, lon) in GCJ-02 (高德, Tencent)."""
    if not in_china(lat, lon):
        return lat, lon
    d_lat = _shift_lat(lon - 105.0, lat - 35.0)
    d_lon = _shift_lon(lon - 105.0, lat - 35.0)
    rad_lat = math.radians(lat)
    magic = 1 - _KRASOVSKY_EE * math.sin(rad_lat) ** 2
    sqrt_magic = math.sqrt(magic)
    meridian_radius = _KRASOVSKY_A * (1 - _KRASOVSKY_EE) / (magic * sqrt_magic)
    parallel_radius = _KRASOVSKY_A / sqrt_magic * math.cos(rad_lat)
    d_lat = d_lat * 180.0 / (meridian_radius * math.pi)
    d_lon = d_lon * 180.0 / (parallel_radius * math.pi)
    return lat + d_lat, lon + d_lon


def gcj02_to_bd09(lat: float, lon: float) -> tuple[float, float]:
    """A GCJ-02 point as (lat, lon) in BD-09 (百度)."""
    z = math.sqrt(lon * lon + lat * lat) + 0.00002 * math.sin(lat * _BD_X_PI)
    theta = math.atan2(lat, lon) + 0.000003 * math.cos(lon * _BD_X_PI)
    return z * math.sin(theta) + 0.006, z * math.cos(theta) + 0.0065


def wgs84_to_bd09(lat: float, lon: float) -> tuple[float, float]:
    """A WGS-84 point as (lat, lon) in BD-09 (百度); outside China it is not shifted."""
    if not in_china(lat, lon):
        return lat, lon
    return gcj02_to_bd09(*wgs84_to_gcj02(lat, lon))
