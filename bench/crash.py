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
from functools import partial
from pathlib import Path
from typing import Any

from storage.outbox import SUPERSEDED
from whistle_testing import SENDING_METHODS, Fault, FaultPlan, LoopbackBotApi, SimulatedUser
from whistle_testing.demo import PEOPLE
from whistle_testing.users import SentMessage

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


# --- 联合吹哨: kill the bot while departments are summoned, check in and are rated -------

WHISTLE_SITE = (39.9087, 116.3975)
WHISTLE_DEPARTMENTS = (  # code, name, group, the member who checks in
    ("cg", "城管执法中队", -1001000000001, 1003),
    ("zj", "住建办", -1001000000002, 1102),
    ("yj", "应急管理办", -1001000000004, 1402),
)
WHISTLE_RATINGS = {"满意": "satisfied", "基本满意": "fair", "不满意": "dissatisfied"}


@dataclass
class WhistleOutcome(Outcome):
    """What the bot told people it had done, to hold against the database at the end."""

    whistles: set[int] = field(default_factory=set)
    arrivals: set[tuple[int, str]] = field(default_factory=set)
    co_done: set[tuple[int, str]] = field(default_factory=set)
    ratings: dict[tuple[int, str], str] = field(default_factory=dict)


class Chaos:
    """Kills the bot (SIGKILL) and restarts it right after chosen actions were sent, so
    the kill falls between the action's commit and its answer, or before the commit: the
    first kills after the first whistle, the first 到场 and the first rating, the rest
    after random later actions."""

    def __init__(self, bot: BotProcess, budget: int, rng: random.Random, outcome: Outcome):
        self.bot, self.budget, self.rng, self.outcome = bot, budget, rng, outcome
        self.seen: set[str] = set()

    async def after(self, action: str) -> None:
        first = action not in self.seen
        self.seen.add(action)
        if self.outcome.kills >= self.budget or not (first or self.rng.random() < 0.3):
            return
        await asyncio.sleep(self.rng.uniform(0.0, 0.3))
        await self.bot.kill()
        self.outcome.kills += 1
        await asyncio.sleep(self.rng.uniform(0.1, 1.0))
        await self.bot.start()


def _rows(database: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(database, timeout=30)) as conn:
        return conn.execute(sql, params).fetchall()


def _summons_state(database: Path, issue: int, code: str) -> str | None:
    found = _rows(
        database,
        "SELECT state FROM whistle_department WHERE issue_id = ? AND department_code = ?",
        (issue, code),
    )
    return found[0][0] if found else None


async def _until(done: Callable[[], bool], attempt: Callable[[], Any], tries: int = 8) -> bool:
    """`attempt` until `done` (the database's word) holds; a bot that is away, or a step
    that has to start over, is only a timeout or a missing message here."""
    for _ in range(tries):
        if done():
            return True
        try:
            await attempt()
        except (AssertionError, LookupError, TimeoutError):
            await asyncio.sleep(0.5)
    return done()


def _latest(messages: list[SentMessage], wanted: Callable[[SentMessage], bool]) -> SentMessage:
    """The newest message that is `wanted`; LookupError (try again later) when none is."""
    for message in reversed(messages):
        if wanted(message):
            return message
    raise LookupError("no such message yet")


def _offers(data: str) -> Callable[[SentMessage], bool]:
    return lambda message: data in (d for _, d in message.buttons())


async def _whistle_report(worker: SimulatedUser, outcome: Outcome) -> int | None:
    mark = worker.mark()
    await worker.send("/report")
    await worker.tap(await worker.expect("请选择问题类别", mark, 30), "违章建筑")
    await worker.expect("请用文字描述问题", mark, 30)
    await worker.send("人行道上搭了违建棚子，压着燃气管")
    await worker.tap(await worker.expect("请发送现场照片", mark, 30), "跳过")
    await worker.expect("请发送位置", mark, 30)
    await worker.send_location(*WHISTLE_SITE)
    await worker.tap(await worker.expect("紧急程度", mark, 30), "一般")
    await worker.tap(await worker.expect("请核对", mark, 30), "提交")
    receipt = await worker.expect("已上报", mark, 30)
    number = re.search(r"#(\d+)", receipt.text)
    if number is None:
        return None
    outcome.receipts.add(int(number.group(1)))
    return int(number.group(1))


async def _blow(api: LoopbackBotApi, number: int, chaos: Chaos, outcome: WhistleOutcome) -> None:
    admin = api.user(3001, PEOPLE[3001])
    mark = admin.mark()
    await admin.send(f"/whistle {number} {' '.join(code for code, *_ in WHISTLE_DEPARTMENTS)}")
    await chaos.after("blow")
    answer = await admin.expect(f"#{number}", mark, 30)
    if "已为" in answer.text and "吹哨" in answer.text:
        outcome.whistles.add(number)


async def _tap_group_card(
    api: LoopbackBotApi, department: tuple[str, str, int, int], data: str
) -> tuple[SimulatedUser, int]:
    """The department's member taps the button carrying `data` on the latest card in its
    group that offers it: that member, and their mark from before the tap."""
    _, _, group, uid = department
    member = api.user(uid, PEOPLE[uid])
    card = _latest(api.chat(group), _offers(data))
    mark = member.mark()
    await member.tap_data(card, data)
    return member, mark


async def _arrive(
    api: LoopbackBotApi,
    number: int,
    department: tuple[str, str, int, int],
    chaos: Chaos,
    outcome: WhistleOutcome,
) -> None:
    code = department[0]
    member, mark = await _tap_group_card(api, department, f"wa:{number}:{code}")
    await member.expect("到场签到", mark, 30)
    await member.send_location(*WHISTLE_SITE)
    await chaos.after("arrive")
    await member.expect(f"#{number} 已到场", mark, 30)
    outcome.arrivals.add((number, code))


async def _co_done(
    api: LoopbackBotApi,
    number: int,
    department: tuple[str, str, int, int],
    chaos: Chaos,
    outcome: WhistleOutcome,
) -> None:
    code = department[0]
    member, mark = await _tap_group_card(api, department, f"wd:{number}:{code}")
    await member.expect("请写明本部门完成的工作", mark, 30)
    await member.send("本部门工作已完成")
    await member.tap(await member.expect("配合完成的现场照片", mark, 30), "跳过")
    await chaos.after("co_done")
    await member.expect(f"已报 #{number} 配合完成", mark, 30)
    outcome.co_done.add((number, code))


async def _resolve(api: LoopbackBotApi, database: Path, number: int) -> None:
    """The lead's holder takes it (报到) and resolves it (办结) from /issue N's card."""
    holder = _rows(database, "SELECT assignee_id FROM issue WHERE id = ?", (number,))[0][0]
    if holder is None:
        raise LookupError("nobody holds it yet")
    member = api.user(holder, PEOPLE.get(holder, "m"))
    mark = member.mark()
    await member.send(f"/issue {number}")
    card = await member.expect(f"#{number}", mark, 30)
    labels = [label for label, _ in card.buttons()]
    if any("报到" in label for label in labels):
        await member.tap(card, "报到")
        await member.expect(f"#{number}", mark, 30, button="办结")
        mark = member.mark()
        await member.send(f"/issue {number}")
        card = await member.expect(f"#{number}", mark, 30, button="办结")
    await member.tap(card, "办结")
    await member.expect("办结说明", mark, 30)
    await member.send("违建已拆除，燃气管复查正常")
    await member.tap(await member.expect("处置后照片", mark, 30), "跳过")
    await member.expect(f"已办结 #{number}", mark, 30)


async def _confirm(api: LoopbackBotApi, number: int) -> None:
    worker = api.user(2001, PEOPLE[2001])
    notice = _latest(
        worker.inbox(),
        lambda m: f"#{number}" in m.text and any("确认" in label for label, _ in m.buttons()),
    )
    mark = worker.mark()
    await worker.tap(notice, "确认")
    await worker.expect("请评价", mark, 30)


async def _rate(
    api: LoopbackBotApi,
    number: int,
    department: tuple[str, str, int, int],
    rating: str,
    chaos: Chaos,
    outcome: WhistleOutcome,
) -> None:
    code, name, _, _ = department
    admin = api.user(3001, PEOPLE[3001])
    card = _latest(
        admin.inbox(), lambda m: f"请评价 {name} 在 #{number}" in m.text and bool(m.buttons())
    )
    mark = admin.mark()
    await admin.tap_data(card, next(d for label, d in card.buttons() if label == rating))
    await chaos.after("rate")
    await admin.expect(f"已评价 #{number} 的 {name}", mark, 30)
    outcome.ratings[(number, code)] = WHISTLE_RATINGS[rating]
    asked = await admin.expect("评价的理由", mark, 30)
    await admin.tap(asked, "跳过")


async def whistle_scenario(
    api: LoopbackBotApi,
    database: Path,
    chaos: Chaos,
    rng: random.Random,
    outcome: WhistleOutcome,
    whistles: int,
) -> None:
    """Reports, whistles on three departments, 到场, 配合完成, 办结, 确认 and the street's
    ratings, each step tried again until the database shows it (the bot may be away)."""
    worker = api.user(2001, PEOPLE[2001])
    for _ in range(whistles):
        before = frozenset(outcome.receipts)
        await _until(
            partial(_new_receipt, outcome, before), partial(_whistle_report, worker, outcome)
        )
        number = max(outcome.receipts - before, default=None)
        if number is None:
            outcome.problems.append("a report for a whistle never completed")
            continue
        for done, attempt in _whistle_steps(api, database, chaos, rng, outcome, number):
            if not await _until(done, attempt):
                outcome.problems.append(f"#{number}: a whistle step never happened ({attempt})")
                break


def _new_receipt(outcome: Outcome, before: frozenset[int]) -> bool:
    return bool(outcome.receipts - before)


def _has_whistle(database: Path, number: int) -> bool:
    return bool(_rows(database, "SELECT 1 FROM whistle WHERE issue_id = ?", (number,)))


def _issue_in(database: Path, number: int, states: tuple[str, ...]) -> bool:
    found = _rows(database, "SELECT state FROM issue WHERE id = ?", (number,))
    return bool(found) and found[0][0] in states


def _summons_in(database: Path, number: int, code: str, states: tuple[str, ...]) -> bool:
    return _summons_state(database, number, code) in states


def _street_rating(database: Path, number: int, code: str) -> str | None:
    found = _rows(
        database,
        "SELECT street_rating FROM whistle_department WHERE issue_id = ? AND department_code = ?",
        (number, code),
    )
    return found[0][0] if found else None


def _rated(database: Path, number: int, code: str) -> bool:
    return _street_rating(database, number, code) is not None


Step = tuple[Callable[[], bool], Callable[[], Any]]


def _whistle_steps(
    api: LoopbackBotApi,
    database: Path,
    chaos: Chaos,
    rng: random.Random,
    outcome: WhistleOutcome,
    number: int,
) -> list[Step]:
    """(done?, try it) for each step of one whistle, in order."""
    steps: list[Step] = [
        (partial(_has_whistle, database, number), partial(_blow, api, number, chaos, outcome))
    ]
    for dept in WHISTLE_DEPARTMENTS:
        done = partial(_summons_in, database, number, dept[0], ("arrived", "done"))
        steps.append((done, partial(_arrive, api, number, dept, chaos, outcome)))
    for dept in WHISTLE_DEPARTMENTS[1:]:
        done = partial(_summons_in, database, number, dept[0], ("done",))
        steps.append((done, partial(_co_done, api, number, dept, chaos, outcome)))
    resolved = partial(_issue_in, database, number, ("resolved", "closed"))
    steps.append((resolved, partial(_resolve, api, database, number)))
    steps.append(
        (partial(_issue_in, database, number, ("closed",)), partial(_confirm, api, number))
    )
    for dept in WHISTLE_DEPARTMENTS:
        rating = rng.choice(sorted(WHISTLE_RATINGS))
        rate = partial(_rate, api, number, dept, rating, chaos, outcome)
        steps.append((partial(_rated, database, number, dept[0]), rate))
    return steps


def check_whistles(database: Path, api: LoopbackBotApi, outcome: WhistleOutcome) -> None:
    """Every arrival, 配合完成 and rating the bot acknowledged is in the database with its
    event; every summons push and rating card arrived, at most once more per kill."""
    events = set(_rows(database, "SELECT issue_id, department_code, action FROM issue_event"))
    for number, code in outcome.arrivals:
        if _summons_state(database, number, code) not in ("arrived", "done"):
            outcome.problems.append(f"#{number} {code}: 到场 acknowledged but not stored")
        if (number, code, "arrive") not in events:
            outcome.problems.append(f"#{number} {code}: 到场 acknowledged, no arrive event")
    for number, code in outcome.co_done:
        if (number, code, "co_done") not in events:
            outcome.problems.append(f"#{number} {code}: 配合完成 acknowledged, no event")
    for (number, code), rating in outcome.ratings.items():
        stored = _street_rating(database, number, code)
        if stored != rating or (number, code, "street_rate") not in events:
            outcome.problems.append(f"#{number} {code}: rating {rating} acknowledged, {stored}")
    summoned = _rows(database, "SELECT issue_id, department_code FROM whistle_department")
    groups = {code: (name, group) for code, name, group, _ in WHISTLE_DEPARTMENTS}
    for number, code in summoned:
        name, group = groups[code]
        pushes = [
            m for m in api.chat(group) if m.from_bot and f"#{number}：街道召集 {name}" in m.text
        ]
        if not pushes:
            outcome.problems.append(f"#{number}: the summons of {code} never arrived")
        elif len(pushes) > 1 + outcome.kills:
            outcome.problems.append(f"#{number}: the summons of {code} arrived {len(pushes)} times")
        cards = [m for m in api.chat(3001) if f"请评价 {name} 在 #{number}" in m.text]
        if (number, code) in outcome.ratings and not cards:
            outcome.problems.append(f"#{number}: no rating card for {code}")


async def run_whistles(
    kills: int = 3, seed: int = 1, folder: Path | None = None, whistles: int = 2
) -> WhistleOutcome:
    """The whistle run: the bot is killed right after whistles are blown, members check in
    on site and the street rates the departments; then `check` and `check_whistles`."""
    rng = random.Random(seed)
    work = folder or Path(tempfile.mkdtemp(prefix="whistle-crash-"))
    shutil.copy(DISTRICT, work / "district.toml")
    api = await street_server()
    database = work / "w.db"
    bot = BotProcess(bot_environment(api, database, work / "district.toml"), work)
    outcome = WhistleOutcome()
    chaos = Chaos(bot, kills, rng, outcome)
    await bot.start()
    try:
        await asyncio.wait_for(whistle_scenario(api, database, chaos, rng, outcome, whistles), 600)
        await drained(database, 30)
        await bot.stop()
    except TimeoutError:
        outcome.problems.append("the whistle run did not finish within 10 minutes")
    finally:
        await bot.kill()
        await api.stop()
    check(database, api, outcome)
    check_whistles(database, api, outcome)
    return outcome


def main_whistles() -> None:
    """python bench/crash.py --whistles [--kills 3] [--seed 1] [--count 2]"""
    parser = argparse.ArgumentParser(description="kill the bot during whistles")
    parser.add_argument("--whistles", action="store_true")
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--count", type=int, default=2, help="how many whistles")
    args = parser.parse_args()
    outcome = asyncio.run(run_whistles(args.kills, args.seed, whistles=args.count))
    print(
        f"kills {outcome.kills}, whistles {len(outcome.whistles)}, arrivals "
        f"{len(outcome.arrivals)}, ratings {len(outcome.ratings)}"
    )
    for problem in outcome.problems:
        print("PROBLEM:", problem)
    print("ok" if not outcome.problems else "FAILED")
    sys.exit(1 if outcome.problems else 0)


if __name__ == "__main__":
    main_whistles() if "--whistles" in sys.argv else main()
