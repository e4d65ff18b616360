"""The kill -9 run of bench/crash.py, in a short form: the bot is a real subprocess killed
three times while workers report and members 报到."""

from __future__ import annotations

from pathlib import Path

from bench.crash import run


async def test_killing_the_bot_loses_no_report_and_no_message(tmp_path: Path) -> None:
    outcome = await run(kills=3, workers=2, seed=3, folder=tmp_path)
    assert outcome.kills == 3
    assert outcome.receipts, "no report completed at all"
    assert outcome.problems == []
