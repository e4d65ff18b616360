"""Peak memory of a running bot with 100,000 issues in its database.

    python -m bench.memory [--issues 100000]

Fills a database with issues (as bench/stats_week.py does), starts `whistle run` as a
subprocess against the loopback Bot API server, has people report, accept and ask for
/todo, /my and /stats, and prints the bot's peak resident memory (VmHWM) and the
database size per 100,000 issues.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from bench.crash import DISTRICT, bot_environment, report, street_server
from bench.stats_week import ZONE, fill
from bot.demo import PEOPLE
from storage.db import Database


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


async def main(issues: int) -> None:
    import random

    folder = Path(tempfile.mkdtemp(prefix="whistle-memory-"))
    database = folder / "w.db"
    async with Database(database):
        pass
    fill(database, issues, 52, datetime.now(ZONE) - timedelta(days=1))
    shutil.copy(DISTRICT, folder / "district.toml")
    api = await street_server()
    env = bot_environment(api, database, folder / "district.toml")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", env=env, cwd=folder
    )
    try:
        rng = random.Random(1)
        from bench.crash import Outcome

        outcome = Outcome()
        workers = [api.user(w, PEOPLE[w]) for w in (2001, 2003, 2004, 2006)]
        for _ in range(5):
            await asyncio.gather(*(report(w, rng, outcome) for w in workers))
        admin, member = api.user(3001, "陈静"), api.user(1002, "张伟")
        for command in ("/stats", "/stats last"):
            mark = admin.mark()
            await admin.send(command)
            await admin.expect("响应统计", mark, 60)
        await member.send("/todo")
        await member.expect("待办", 0, 30)
        await workers[0].send("/my")
        await workers[0].expect("我上报的问题", 0, 30)
        await asyncio.sleep(2)
        peak = peak_rss_kib(process.pid)
    finally:
        process.terminate()
        await process.wait()
        await api.stop()
    size = database.stat().st_size
    print(f"reports completed during the run: {len(outcome.receipts)}")
    print(f"peak resident memory of the bot: {peak / 1024:.0f} MiB (target < 150 MiB)")
    print(
        f"database: {size / 2**20:.0f} MiB for {issues:,} issues "
        f"({size / issues * 100_000 / 2**20:.0f} MiB per 100,000)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issues", type=int, default=100_000)
    args = parser.parse_args()
    asyncio.run(main(args.issues))
