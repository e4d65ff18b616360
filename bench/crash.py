"""Kill the bot with SIGKILL at random moments while grid workers report and members act,
restart it each time, and check that nothing was lost.

    python bench/crash.py [--kills 5] [--workers 4] [--seed 1]

The loopback Bot API server runs in this process; the bot is a real `whistle run`
subprocess. At the end: every report the worker got a receipt for exists with its
report and dispatch events; every push was delivered (at least once, at most once more
per kill); no issue is stuck where nothing will move it; PRAGMA integrity_check is ok.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import signal
import sqlite3
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from storage.outbox import SUPERSEDED
from whistle_testing import SENDING_METHODS, Fault, FaultPlan, LoopbackBotApi, SimulatedUser
from whistle_testing.demo import PEOPLE

DISTRICT = Path(__file__).resolve().parent.parent / "bot" / "data" / "district.toml"
GROUPS = (-1001000000001, -1001000000002, -1001000000004)
WORKERS = (2001, 2003, 2004, 2006, 2007, 2009)
CATEGORIES = ("环境卫生", "占道经营", "噪音扰民", "路灯不亮", "施工扰民", "食品安全")


@dataclass
class Outcome:
    kills: int = 0
    receipts: set[int] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)
    issues: int = 0
    duplicate_cards: int = 0


class BotProcess:
    def __init__(self, env: dict[str, str], folder: Path) -> None:
        self.env = env
        self.folder = folder
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        log = (self.folder / "bot.log").open("ab")
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            env=self.env,
            cwd=self.folder,
            stdout=log,
            stderr=log,
        )
        log.close()

    async def kill(self) -> None:
        if self.process and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()

    async def stop(self) -> None:
        if self.process and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 20)
            except TimeoutError:
                await self.kill()


async def street_server(
    faults: Callable[[str, dict[str, Any]], Fault | None] | None = None,
    latency: float = 0.0,
) -> LoopbackBotApi:
    """A started loopback Bot API server that knows the example district's people and
    department groups."""
    api = LoopbackBotApi(faults=faults, latency=latency)
    await api.start()
    for chat in GROUPS:
        api.group(chat, str(chat))
    for user_id, name in PEOPLE.items():
        api.user(user_id, name)
    return api


def bot_environment(api: LoopbackBotApi, database: Path, org_file: Path) -> dict[str, str]:
    """The environment of a `whistle run` subprocess pointed at `api`, paced for loopback."""
    return {
        **os.environ,
        "WHISTLE_TELEGRAM_TOKEN": api.token,
        "WHISTLE_TELEGRAM_API_URL": api.base_url,
        "WHISTLE_DATABASE": str(database),
        "WHISTLE_ORG_FILE": str(org_file),
        "WHISTLE_ADMIN_IDS": "3001",
        "WHISTLE_POLL_TIMEOUT_SECONDS": "1",
        "WHISTLE_SEND_RATE_PRIVATE_CHAT": "50",
        "WHISTLE_SEND_RATE_GROUP_PER_MINUTE": "3000",
        "WHISTLE_SEND_RATE_OVERALL": "500",
        "WHISTLE_WEEKLY_STATS": "false",
        "WHISTLE_LOG_LEVEL": "WARNING",
    }


async def report(worker: SimulatedUser, rng: random.Random, outcome: Outcome) -> None:
    """One report conversation; gives up quietly if the bot is away too long."""
    mark = worker.mark()
    try:
        await worker.send("/report")
        await worker.tap(await worker.expect("请选择问题类别", mark, 30), rng.choice(CATEGORIES))
        await worker.expect("请用文字描述问题", mark, 30)
        await worker.send(f"崩溃测试 {rng.randrange(10**6)}")
        prompt = await worker.expect("请发送现场照片", mark, 30)
        if rng.random() < 0.5:
            await worker.send_photo()
            prompt = await worker.expect("已收到", mark, 30)
            await worker.tap(prompt, "完成")
        else:
            await worker.tap(prompt, "跳过")
        prompt = await worker.expect("请发送位置", mark, 30)
        await worker.send_location(39.9 + rng.random() / 100, 116.4 + rng.random() / 100)
        await worker.tap(await worker.expect("紧急程度", mark, 30), rng.choice(["一般", "紧急"]))
        await worker.tap(await worker.expect("请核对", mark, 30), "提交")
        receipt = await worker.expect("已上报", mark, 30)
    except (AssertionError, LookupError, TimeoutError):
        await worker.send("/cancel")
        return
    number = re.search(r"#(\d+)", receipt.text)
    if number:
        outcome.receipts.add(int(number.group(1)))


async def members_act(api: LoopbackBotApi, stop: asyncio.Event) -> None:
    """Members tap 报到 on every fresh card they see in their private chats."""
    tapped: set[tuple[int, int]] = set()
    while not stop.is_set():
        for message in list(api.messages):
            if not message.from_bot or message.chat_id < 0 or message.chat_id >= 2000:
                continue
            if (message.chat_id, message.message_id) in tapped:
                continue
            if any("报到" in label for label, _ in message.buttons()):
                tapped.add((message.chat_id, message.message_id))
                await api.user(message.chat_id, PEOPLE.get(message.chat_id, "m")).tap(
                    message, "报到"
                )
        await asyncio.sleep(0.3)


async def run(
    kills: int = 5,
    workers: int = 4,
    seed: int = 1,
    folder: Path | None = None,
    faults: bool = False,
) -> Outcome:
    rng = random.Random(seed)
    work = folder or Path(tempfile.mkdtemp(prefix="whistle-crash-"))
    shutil.copy(DISTRICT, work / "district.toml")
    plan = FaultPlan(
        rate_429=0.08,
        rate_500=0.08,
        rate_hang=0.03,
        rate_drop=0.04,
        retry_after=1,
        hang_seconds=16,
        seed=seed,
        methods=SENDING_METHODS,
    )

    def department_faults(method: str, params: dict[str, Any]) -> Fault | None:
        """429s, 500s, hangs past the bot's timeout and dropped connections on a share of
        what the outbox sends to department members and groups (the workers' own
        conversation stays reachable, so reports keep coming)."""
        chat = str(params.get("chat_id", ""))
        if chat.startswith(("-", "1")):
            return plan(method, params)
        return None

    api = await street_server(department_faults if faults else None)
    env = bot_environment(api, work / "w.db", work / "district.toml")
    bot = BotProcess(env, work)
    outcome = Outcome()
    stop = asyncio.Event()
    await bot.start()
    people = [api.user(w, PEOPLE[w]) for w in WORKERS[:workers]]

    async def worker_loop(worker: SimulatedUser) -> None:
        while not stop.is_set():
            await report(worker, rng, outcome)

    tasks = [asyncio.create_task(worker_loop(w)) for w in people]
    tasks.append(asyncio.create_task(members_act(api, stop)))
    try:
        for _ in range(kills):
            await asyncio.sleep(rng.uniform(1.5, 4.0))
            await bot.kill()
            outcome.kills += 1
            await asyncio.sleep(rng.uniform(0.1, 1.0))
            await bot.start()
        await asyncio.sleep(3)
        stop.set()
        await asyncio.wait(tasks, timeout=60)
        # Let the outbox drain with no more kills: under faults a hang costs the bot's
        # 15 s timeout and a chat's items go one at a time, so wait for the outbox
        # itself rather than for a fixed time (bounded).
        await drained(work / "w.db", 180 if faults else 30)
        await bot.stop()
    finally:
        for task in tasks:
            task.cancel()
        await bot.kill()
        await api.stop()
    check(work / "w.db", api, outcome)
    return outcome


async def drained(database: Path, limit: float) -> None:
    """Wait until nothing in the outbox is pending (at most `limit` seconds)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while loop.time() < deadline:
        with closing(sqlite3.connect(database)) as conn:
            pending = conn.execute(
                "SELECT COUNT(*) FROM outbox WHERE status = 'pending'"
            ).fetchone()[0]
        if not pending:
            await asyncio.sleep(1)  # the last delivery's bookkeeping
            return
        await asyncio.sleep(1)


def check(database: Path, api: LoopbackBotApi, outcome: Outcome) -> None:
    with closing(sqlite3.connect(database)) as conn:
        if conn.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            outcome.problems.append("integrity_check failed")
        states = dict(conn.execute("SELECT id, state FROM issue").fetchall())
        outcome.issues = len(states)
        for number in outcome.receipts:
            actions = [
                a
                for (a,) in conn.execute(
                    "SELECT action FROM issue_event WHERE issue_id = ? ORDER BY id", (number,)
                )
            ]
            if number not in states or actions[:2] != ["report", "dispatch"]:
                outcome.problems.append(f"#{number}: receipt given but events are {actions}")
        stuck = [n for n, s in states.items() if s == "reported"]
        if stuck:
            outcome.problems.append(f"issues never dispatched: {stuck}")
        pending = conn.execute(
            "SELECT COUNT(*) FROM outbox WHERE status != 'sent' AND last_error IS NOT ?",
            (SUPERSEDED,),  # card edits replaced by newer ones before they went out
        ).fetchone()[0]
        if pending:
            outcome.problems.append(f"{pending} outbox rows not delivered")
        pushes = conn.execute(
            "SELECT issue_id, chat_id FROM outbox WHERE purpose = 'push'"
        ).fetchall()
    cards: Counter[tuple[int, int]] = Counter()
    for message in api.messages:
        if message.from_bot and message.buttons():
            found = re.search(r"#(\d+) ", message.text)
            if found and message.text.startswith(("🔔", "🔴")):
                cards[(int(found.group(1)), message.chat_id)] += 1
    for issue_id, chat_id in pushes:
        seen = cards.get((issue_id, chat_id), 0)
        if seen == 0 and not any(
            m.chat_id == chat_id and f"#{issue_id} " in m.text for m in api.messages
        ):
            outcome.problems.append(f"push of #{issue_id} to {chat_id} never arrived")
        if seen > 1 + outcome.kills:
            outcome.problems.append(f"push of #{issue_id} to {chat_id} arrived {seen} times")
        outcome.duplicate_cards += max(0, seen - 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--faults",
        action="store_true",
        help="the server also answers 429/500, hangs and drops connections",
    )
    args = parser.parse_args()
    outcome = asyncio.run(run(args.kills, args.workers, args.seed, faults=args.faults))
    print(
        f"kills {outcome.kills}, issues {outcome.issues}, receipts {len(outcome.receipts)}, "
        f"duplicate cards {outcome.duplicate_cards}"
    )
    if not outcome.receipts:
        outcome.problems.append("no report was completed")
    for problem in outcome.problems:
        print("PROBLEM:", problem)
    print("ok" if not outcome.problems else "FAILED")
    sys.exit(1 if outcome.problems else 0)


if __name__ == "__main__":
    main()
