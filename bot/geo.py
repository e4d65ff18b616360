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
