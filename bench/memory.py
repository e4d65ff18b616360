"""Peak memory of a running bot that has taken reports through Telegram, with 100,000
issues in its database.

    python -m bench.memory [--issues 100000] [--through-bot 2000] [--workers 40]
                           [--client httpx|aiohttp] [--from-database PATH]

Fills the database with `issues - through_bot` issues (as bench/stats_week.py does),
starts `whistle run` as a subprocess against the loopback Bot API server, then has grid
workers send the remaining `through_bot` reports through the bot (whole conversations:
category, text, photo, location, urgency, 提交), printing the bot's resident memory as
they go; then admins, members and workers ask for /stats, /todo and /my. Prints the
peak resident memory (VmHWM) and the database size per 100,000 issues.
`--through-bot 100000` sends every issue through the bot (hours: the pace falls once
nobody's acknowledgements leave thousands of reminders and escalations to send; figures in
docs/performance.md); they are then all in this week, so /stats covers a week of 100,000
issues. `--from-database` starts from a copy of a database an earlier run kept, and
measures only the commands (/stats on that week without the hours of reports).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sqlite3
import tempfile
import time
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path

from bench.crash import GROUPS, BotProcess, street_server
from bench.load import (
    EXTRA_WORKERS,
    FIRST_WORKER,
    Counter,
    big_district,
    one_report,
    register_staff,
    unpaced_environment,
)
from bench.stats_week import ZONE, fill
from storage.db import Database
from whistle_testing import SimulatedUser
from whistle_testing.demo import PEOPLE


def rss_kib(pid: int, field: str = "VmHWM") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


async def main(
    issues: int, through_bot: int, workers: int, client: str, start_from: Path | None = None
) -> None:
    folder = Path(tempfile.mkdtemp(prefix="whistle-memory-"))
    database = folder / "w.db"
    if start_from is not None:
        # A copy of an earlier run's database: only the commands are measured.
        shutil.copy(start_from, database)
        with closing(sqlite3.connect(database)) as conn:
            issues = conn.execute("SELECT COUNT(*) FROM issue").fetchone()[0]
        through_bot = 0
    async with Database(database):
        pass
    if start_from is None and issues > through_bot:
        fill(database, issues - through_bot, 52, datetime.now(ZONE) - timedelta(days=1))
    district = big_district()
    (folder / "district.toml").write_text(district, encoding="utf-8")
    api = await street_server()
    register_staff(api, district)
    env = {
        **unpaced_environment(api, database, folder / "district.toml"),
        "WHISTLE_BOT_API_CLIENT": client,
    }
    bot = BotProcess(env, folder)
    await bot.start()
    counter = Counter(keep_cards=False)
    api.observers.append(counter.observe)
    rng = random.Random(1)
    people = [api.user(FIRST_WORKER + k, f"W{k}") for k in range(min(workers, EXTRA_WORKERS))]
    pushed_chats = [*PEOPLE, *GROUPS]
    began = time.monotonic()
    try:
        assert bot.process is not None
        pid = bot.process.pid
        step = max(1, through_bot // 10)
        next_mark, started, failed = step, 0, 0

        async def keep_reporting(worker_index: int) -> None:
            nonlocal next_mark, started, failed
            worker = people[worker_index]
            while started < through_bot:
                started += 1
                try:
                    await one_report(api, worker, rng, counter)
                except (AssertionError, TimeoutError):
                    failed += 1
                # The loopback server would otherwise keep every message and call of the
                # run, and each expect() would scan a worker's whole history.
                api.forget(worker.id)
                if started % 1000 == 0:
                    for chat_id in pushed_chats:
                        api.forget(chat_id)
                    api.forget_log()
                if counter.completed >= next_mark:
                    next_mark += step
                    print(
                        f"  {counter.completed:>7,} reports through the bot: resident "
                        f"{rss_kib(pid, 'VmRSS') / 1024:.0f} MiB, peak "
                        f"{rss_kib(pid) / 1024:.0f} MiB",
                        flush=True,
                    )

        await asyncio.gather(*(keep_reporting(n) for n in range(len(people))))
        elapsed = time.monotonic() - began
        admin, member, worker = api.user(3001, "陈静"), api.user(1002, "张伟"), people[0]
        for person, command, answer in (
            (admin, "/stats", "响应统计"),
            (admin, "/stats last", "响应统计"),
            (member, "/todo", "待办"),
            (worker, "/my", "我上报的问题"),
        ):
            mark = person.mark()
            await person.send(command)
            await person.expect(answer, mark, 60)
            if command.startswith("/stats"):

                def chart_arrived(person: SimulatedUser = person, mark: int = mark) -> bool:
                    return any(x.kind == "photo" for x in person.inbox()[mark:])

                await api.wait_for(chart_arrived, 60)
            print(
                f"  after {command}: resident {rss_kib(pid, 'VmRSS') / 1024:.0f} MiB, "
                f"peak {rss_kib(pid) / 1024:.0f} MiB",
                flush=True,
            )
        await asyncio.sleep(2)
        peak = rss_kib(pid)
    finally:
        await bot.stop()
        await api.stop()
    size = database.stat().st_size
    print(
        f"reports completed through the bot: {counter.completed:,} in {elapsed:.0f} s "
        f"({counter.completed / elapsed:.1f}/s), {failed} not completed; "
        f"issues in the database: {issues:,}"
    )
    print(
        f"peak resident memory of the bot: {peak / 1024:.0f} MiB = {peak * 1024 / 1e6:.0f} MB "
        f"(target < 150 MB)"
    )
    print(
        f"database: {size / 2**20:.0f} MiB for {issues:,} issues "
        f"({size / issues * 100_000 / 2**20:.0f} MiB per 100,000), kept in {database}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issues", type=int, default=100_000)
    parser.add_argument("--through-bot", type=int, default=2_000)
    parser.add_argument("--workers", type=int, default=40)
    parser.add_argument(
        "--client",
        default="httpx",
        choices=("httpx", "aiohttp"),
        help="the bot's Bot API client (aiohttp: the same run in about 2/3 of the time)",
    )
    parser.add_argument(
        "--from-database",
        type=Path,
        help="start from a copy of this database (each run prints where it keeps its own) "
        "and measure only the commands",
    )
    args = parser.parse_args()
    asyncio.run(main(args.issues, args.through_bot, args.workers, args.client, args.from_database))
