"""联合吹哨: a place given as an address, found offline in the street's gazetteer.

There is no geocoding service (no internet), so a street lists its own places in the
organisation file — buildings, 小区, crossings, markets — each `[[place]]` with a `name`,
`lat`, `lon` and optional `aliases`. An address a person types is matched against them:

- Both sides are normalised first: Unicode NFKC (full-width letters, digits and spaces
  become half-width: "１２号楼" is "12号楼"), lower case, and every space and punctuation
  mark left out ("幸福小区 3 号楼" is "幸福小区3号楼").
- The text is a place's name or alias: that place.
- Else the text contains names or aliases of places ("幸福小区3号楼东侧的人行道"): the
  place with the longest one; two places tied at that length are ambiguous.
- Else the text is part of the names or aliases of exactly one place ("3号楼" where only
  one place has it): that place; of several, ambiguous.
- Otherwise nothing matches, and the person is asked for a location pin instead.

A key (a normalised name or alias) must have at least `MIN_KEY_LENGTH` characters and
name one place only; `problems` says where a file breaks that, for `whistle org check`.
"""

from __future__ import annotations

import math
import statistics
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from bot.geo import distance_meters

MIN_KEY_LENGTH = 2
"""A shorter key ("3", "东") would match far too much."""
FAR_FROM_THE_OTHERS_METERS = 30_000
"""A place this far from the middle of the street's places is most likely a typo."""


@dataclass(frozen=True)
class GazetteerPlace:
    name: str
    latitude: float
    longitude: float
    aliases: tuple[str, ...] = ()

    @property
    def keys(self) -> tuple[str, ...]:
        """Its normalised name and aliases, each once, the name first."""
        found: list[str] = []
        for label in (self.name, *self.aliases):
            key = normalise(label)
            if key and key not in found:
                found.append(key)
        return tuple(found)


@dataclass(frozen=True)
class Found:
    place: GazetteerPlace


@dataclass(frozen=True)
class Ambiguous:
    names: tuple[str, ...]
    """The candidates' names, in the file's order."""


@dataclass(frozen=True)
class NotFound:
    pass


Match = Found | Ambiguous | NotFound


def normalise(text: str) -> str:
    """NFKC, lower case, without spaces or punctuation (see the module's rule)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(
        char
        for char in folded
        if not char.isspace() and not unicodedata.category(char).startswith(("P", "Z", "C"))
    )


def find(places: Sequence[GazetteerPlace], address: str) -> Match:
    """The place `address` names by the module's rule."""
    text = normalise(address)
    if len(text) < MIN_KEY_LENGTH or not places:
        return NotFound()
    exact = [p for p in places if text in p.keys]
    if exact:
        return _one(exact)
    contained = [(max(len(k) for k in p.keys if k in text), p) for p in places if _within(p, text)]
    if contained:
        longest = max(length for length, _ in contained)
        return _one([p for length, p in contained if length == longest])
    containing = [p for p in places if any(text in k for k in p.keys)]
    if containing:
        return _one(containing)
    return NotFound()


def _within(place: GazetteerPlace, text: str) -> bool:
    return any(key in text for key in place.keys)


def _one(candidates: Sequence[GazetteerPlace]) -> Match:
    if len(candidates) == 1:
        return Found(candidates[0])
    return Ambiguous(tuple(p.name for p in candidates))


def problems(places: Sequence[GazetteerPlace]) -> list[tuple[int, str, str]]:
    """(index of the place, key of the file, message) for every name or alias that is too
    short once normalised, or that also names another place."""
    found: list[tuple[int, str, str]] = []
    owner: dict[str, int] = {}
    for index, place in enumerate(places):
        labels = [("name", place.name), *(("aliases", alias) for alias in place.aliases)]
        for field, label in labels:
            key = normalise(label)
            if len(key) < MIN_KEY_LENGTH:
                found.append(
                    (
                        index,
                        field,
                        f"{label!r} is too short to match an address "
                        f"(at least {MIN_KEY_LENGTH} letters or digits)",
                    )
                )
                continue
            other = owner.setdefault(key, index)
            if other != index:
                found.append(
                    (
                        index,
                        field,
                        f"{label!r} also names place #{other + 1} ({places[other].name}): "
                        "an address must lead to one place",
                    )
                )
    return found


def far_from_the_others(places: Sequence[GazetteerPlace]) -> list[tuple[GazetteerPlace, int]]:
    """Places more than FAR_FROM_THE_OTHERS_METERS from the middle (the median latitude
    and longitude) of at least three places, with that distance in metres: most likely a
    mistyped coordinate. Warnings, not errors (a street may be large)."""
    if len(places) < 3:
        return []
    middle_lat = statistics.median(p.latitude for p in places)
    middle_lon = statistics.median(p.longitude for p in places)
    far: list[tuple[GazetteerPlace, int]] = []
    for place in places:
        meters = distance_meters(middle_lat, middle_lon, place.latitude, place.longitude)
        if math.isfinite(meters) and meters > FAR_FROM_THE_OTHERS_METERS:
            far.append((place, round(meters)))
    return far


def gazetteer_changes(old: Sequence[GazetteerPlace], new: Sequence[GazetteerPlace]) -> list[str]:
    """What an import changes in the gazetteer, one line per place, for its summary."""
    before = {p.name: p for p in old}
    after = {p.name: p for p in new}
    changes = [f"place {name} added" for name in after if name not in before]
    changes += [f"place {name} removed" for name in before if name not in after]
    changes += [
        f"place {name} changed ({before[name].latitude}, {before[name].longitude} → "
        f"{place.latitude}, {place.longitude}; aliases {', '.join(place.aliases) or '-'})"
        for name, place in after.items()
        if name in before and before[name] != place
    ]
    return changes
