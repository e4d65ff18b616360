"""联合吹哨's pure rules: where a check-in is, and when a summoned department is due.

- Distance is the great-circle (haversine) distance on a sphere of the mean Earth radius
  (6,371,008.8 m); good to well under a metre over the few hundred metres that matter.
- A check-in is on site when its distance is at most `radius_meters` (the boundary counts
  as on site), rounded to the whole metre that the card shows.
- The arrival limit runs from the summons: `arrive_minutes`, `urgent_arrive_minutes` for an
  urgent issue; the reminder, head and admin alerts follow bot/deadlines.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.organisation import WhistleRules

EARTH_RADIUS_METERS = 6_371_008.8


@dataclass(frozen=True)
class Place:
    latitude: float
    longitude: float

    def valid(self) -> bool:
        return (
            math.isfinite(self.latitude)
            and math.isfinite(self.longitude)
            and -90.0 <= self.latitude <= 90.0
            and -180.0 <= self.longitude <= 180.0
        )


def distance_meters(a: Place, b: Place) -> float:
    """The great-circle distance between two places, in metres."""
    phi1, phi2 = math.radians(a.latitude), math.radians(b.latitude)
    dphi = phi2 - phi1
    dlambda = math.radians(b.longitude - a.longitude)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_METERS * math.asin(min(1.0, math.sqrt(h)))


@dataclass(frozen=True)
class CheckIn:
    meters: int
    on_site: bool


def check_in(place: Place, at: Place, radius_meters: int) -> CheckIn:
    """A check-in at `at` for a whistle at `place`: its whole-metre distance, and whether it
    is on site (distance ≤ radius)."""
    meters = round(distance_meters(place, at))
    return CheckIn(meters, meters <= radius_meters)


def arrive_window(rules: WhistleRules, urgent: bool) -> timedelta:
    return timedelta(minutes=rules.urgent_arrive_minutes if urgent else rules.arrive_minutes)


def arrive_by(rules: WhistleRules, urgent: bool, summoned: datetime) -> datetime:
    return summoned + arrive_window(rules, urgent)


def on_time(summoned_at: int, arrived_at: int | None, deadline: int) -> bool:
    """Arrived (on site) no later than the arrival deadline."""
    return arrived_at is not None and summoned_at <= arrived_at <= deadline


# --- records: a whistle and its summoned departments as stored -------------------------


@dataclass(frozen=True)
class WhistleRecord:
    issue_id: int
    lead: str
    latitude: float
    longitude: float
    blown_by: int | None
    blown_at: int
    override_by: int | None = None
    override_reason: str | None = None

    @property
    def place(self) -> Place:
        return Place(self.latitude, self.longitude)


@dataclass(frozen=True)
class Summons:
    """One summoned department of a whistle (its state is bot/lifecycle.py's SummonState)."""

    issue_id: int
    department_code: str
    state: str
    summoned_at: int
    arrive_deadline: int
    arrived_at: int | None = None
    arrived_by: int | None = None
    arrived_meters: int | None = None
    last_meters: int | None = None
    done_at: int | None = None
    released_at: int | None = None
    street_rating: str | None = None
    street_reason: str | None = None
    rated_at: int | None = None


@dataclass(frozen=True)
class ArrivalAlert:
    id: int
    issue_id: int
    department_code: str
    step: str
    due_at: int
    deadline: int
