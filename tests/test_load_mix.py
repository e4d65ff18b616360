"""The load bench's mix, two issues through the whole of it against an in-process street:
if a prompt or a button the simulated people look for changes, this fails here instead of
the bench failing the next time someone runs it."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

from bench.load import Counter, life_of_an_issue
from bot.lifecycle import State
from storage import issues as issue_store
from tests.conftest import open_street


async def test_the_load_mix_takes_an_issue_from_report_to_rating(
    tmp_path: Path, district_file: Path
) -> None:
    async with open_street(tmp_path, district_file) as street:
        counter = Counter()
        street.api.observers.append(counter.observe)
        worker = street.person(2001, "王芳")
        desks: dict[int, asyncio.Lock] = {}
        rng = random.Random(5)
        await life_of_an_issue(street.api, worker, rng, counter, desks)
        await life_of_an_issue(street.api, worker, rng, counter, desks)
        assert counter.completed == 2 and counter.closed == 2
        assert 2 * 13 <= counter.updates <= 2 * 16
        for number in counter.cards:
            stored = await issue_store.get_issue(street.whistle.db.reader, number)
            assert stored is not None and stored.state == State.CLOSED
            assert stored.rating in ("satisfied", "fair")
