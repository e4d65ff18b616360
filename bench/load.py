"""Load: simulated grid workers and members drive Whistle through the loopback Bot API
server at several offered loads, then a bare python-telegram-bot echo bot is driven with
the same number of updates, in the same run. Each bot runs in its own process, as it
would in production; the server and the simulated people run in this one.

    python -m bench.load [--seconds 8] [--loads 5,10,20,40,80]

The mix, per issue (`life_of_an_issue`, about 14 updates): a grid worker's whole report
conversation with a photo and a location; the member on duty now and then looks at
/todo, taps 报到 and goes through 办结 with a note; the worker taps 确认, rates, and now
and then looks at /my. Each person does one thing at a time.

Prints, per offered load (issues started per second): updates answered, reports whose
card reached a member and issues closed, per second from the window's start until every
issue started in it is closed (what the bot keeps up with, not what it answers while
pushes queue up behind); the latency from a report's 提交 to its push reaching the
server (median, p99); Bot API calls per issue; the bot process's CPU time per update.
Then the highest load whose p99 stays under 100 ms, and the echo bot's updates per
second — with updates all queued at once, with people conversing, and replying as many
times per update as Whistle calls the Bot API — with Whistle's ratio to each, in updates
per second and per CPU second (the second does not depend on how fast the simulated
people and the server, in this one process, keep up). Pacing limits are lifted
(loopback has none), so the figures measure Whistle, not Telegram's ceiling. Both Bot
API clients are measured (httpx, the default, and aiohttp). Then a street over a network
(`bench/street.py`): every call taking `--network` seconds (half each way), Telegram's
pacing on, issues spread over 20 departments, 60 grid workers at `--network-loads`
reports/s; it prints each step's latency in round trips, 提交→push, and the messages each
issue costs against Telegram's budget.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench import street
from bench.crash import BotProcess, bot_environment, street_server
from bench.echo_bot import replies_to
from whistle_testing import LoopbackBotApi, SentMessage, SimulatedUser

DISTRICT = Path(__file__).resolve().parent.parent / "bot" / "data" / "district.toml"
EXTRA_WORKERS = 300
FIRST_WORKER = 30000
EXTRA_MEMBERS = 10
"""Staff added to each department (ids head + 10 …): a street department's cards spread
over a duty roster of people, each of whom resolves one issue at a time."""


def big_district() -> str:
    """The example district with many more grid workers, spread over its grids."""
    text = DISTRICT.read_text(encoding="utf-8")
    for n, grid in enumerate(("G01", "G02", "G03", "G04", "G05", "G06")):
        ids = ", ".join(str(FIRST_WORKER + k) for k in range(EXTRA_WORKERS) if k % 6 == n)

        def with_workers(found: re.Match[str], ids: str = ids) -> str:
            return f"{found.group(1)}{found.group(2)}, {ids}]"

        text = re.sub(
            rf'(code = "{grid}"\nname = "[^"]+"\nworkers = \[)([^\]]*)\]', with_workers, text
        )
    for found in re.finditer(r"head = (\d+)\nmembers = \[([^\]]*)\]", text):
        extra = ", ".join(str(int(found.group(1)) + 10 + k) for k in range(EXTRA_MEMBERS))
        text = text.replace(found.group(0), f"{found.group(0)[:-1]}, {extra}]", 1)
    return text


def department_staff(district: str) -> set[int]:
    """Every head and member the district file names."""
    staff = {int(n) for n in re.findall(r"^head = (\d+)$", district, flags=re.MULTILINE)}
    for members in re.findall(r"^members = \[([^\]]*)\]", district, flags=re.MULTILINE):
        staff.update(int(n) for n in re.findall(r"\d+", members))
    return staff


def register_staff(api: LoopbackBotApi, district: str) -> None:
    """Make the loopback server know every head and member, so pushes to them arrive."""
    for user_id in sorted(department_staff(district)):
        api.user(user_id, f"M{user_id}")


def unpaced_environment(api: LoopbackBotApi, database: Path, org_file: Path) -> dict[str, str]:
    """A `whistle run` environment with pacing and the report limit lifted (loopback has
    no limits), so the figures measure Whistle, not Telegram's ceiling."""
    return {
        **bot_environment(api, database, org_file),
        "WHISTLE_SEND_RATE_OVERALL": "100000",
        "WHISTLE_SEND_RATE_PRIVATE_CHAT": "100000",
        "WHISTLE_SEND_RATE_GROUP_PER_MINUTE": "10000000",
        "WHISTLE_REPORT_LIMIT_PER_HOUR": "1000000",
    }


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) a process has used so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class LoadStep:
    """What one offered load gave."""

    offered: int
    updates_per_second: float
    reports_per_second: float
    closed_per_second: float
    median_ms: float
    p99_ms: float
    calls_per_issue: float
    calls_per_update: float
    cpu_ms_per_update: float
    """The bot process's CPU time per update: what it costs, however fast the simulated
    people and the server around it are."""


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, -(-int(share * len(ordered) * 1000) // 1000) - 1)]


class Counter:
    """What the simulated people saw: updates the bot answered, reports whose card reached
    a member, issues closed."""

    def __init__(self, keep_cards: bool = True) -> None:
        self.updates = 0
        """Updates the people sent that were answered."""
        self.completed = 0
        """Reports whose card reached a member."""
        self.closed = 0
        """Issues closed: 报到, 办结, 确认 and a rating."""
        self.latencies: list[float] = []
        self.pushed: dict[int, float] = {}
        """When each issue's first card reached the server."""
        self.keep_cards = keep_cards
        self.cards: dict[int, SentMessage] = {}
        """Each issue's first card in a member's private chat (if `keep_cards`)."""
        self.calls = 0
        """Bot API calls the bot made (getUpdates aside)."""

    def handled(self) -> None:
        self.updates += 1

    def observe(self, kind: str, event: object) -> None:
        if kind == "call":
            self.calls += 1
        if kind != "message" or not isinstance(event, SentMessage):
            return
        number = street.pushed_issue(event)
        if number is not None:
            self.pushed.setdefault(number, event.at)
            if self.keep_cards:
                self.cards.setdefault(number, event)


async def urgency_prompt(api: LoopbackBotApi, worker: SimulatedUser, mark: int) -> SentMessage:
    """The urgency prompt after the location; when the bot first offers an open issue of
    the same category nearby (附议), the worker answers that this one is not it."""

    def asked() -> SentMessage | None:
        for message in worker.inbox()[mark:]:
            if "紧急程度" in message.text or "是同一个问题吗" in message.text:
                return message
        return None

    prompt: SentMessage = await api.wait_for(asked, 20)
    if "是同一个问题吗" in prompt.text:
        await worker.tap(prompt, "不是同一个问题")
        prompt = await worker.expect("紧急程度", mark, 20)
    return prompt


async def one_report(
    api: LoopbackBotApi, worker: SimulatedUser, rng: random.Random, counter: Counter
) -> int:
    """A whole report conversation with a photo and a location (8 updates); returns the
    issue's number once its card has reached a member."""
    mark = worker.mark()
    await worker.send("/report")
    prompt = await worker.expect("请选择问题类别", mark, 20)
    counter.handled()
    await worker.tap(
        prompt, rng.choice(["环境卫生", "占道经营", "噪音扰民", "施工扰民", "食品安全", "路灯不亮"])
    )
    await worker.expect("请用文字描述问题", mark, 20)
    counter.handled()
    await worker.send(f"压力测试 {rng.randrange(10**9)}")
    await worker.expect("请发送现场照片", mark, 20)
    counter.handled()
    await worker.send_photo()
    prompt = await worker.expect("已收到 1 张照片", mark, 20)
    counter.handled()
    await worker.tap(prompt, "完成")
    await worker.expect("请发送位置", mark, 20)
    counter.handled()
    await worker.send_location(39.9, 116.4)
    prompt = await urgency_prompt(api, worker, mark)
    counter.handled()
    await worker.tap(prompt, "一般")
    summary = await worker.expect("请核对", mark, 20)
    counter.handled()
    submitted = time.monotonic()
    await worker.tap(summary, "提交")
    receipt = await worker.expect("已上报", mark, 20)
    counter.handled()
    number = re.search(r"#(\d+)", receipt.text)
    assert number is not None
    issue = int(number.group(1))
    arrived = await api.wait_for(lambda: counter.pushed.get(issue), 20)
    counter.latencies.append(arrived - submitted)
    counter.completed += 1
    return issue


async def life_of_an_issue(
    api: LoopbackBotApi,
    worker: SimulatedUser,
    rng: random.Random,
    counter: Counter,
    desks: dict[int, asyncio.Lock],
) -> None:
    """The realistic mix: a report, then the member on duty looks at /todo now and then,
    taps 报到 and goes through 办结 (a note, no photo) — one issue at a time per person
    (`desks`) — and the worker 确认s, rates, and now and then checks /my: about 14
    updates in all."""
    issue = await one_report(api, worker, rng, counter)
    told = worker.mark()
    card = counter.cards[issue]
    member = api.user(card.chat_id, f"M{card.chat_id}")
    async with desks.setdefault(member.id, asyncio.Lock()):
        mark = member.mark()
        if rng.random() < 0.25:
            await member.send("/todo")
            await member.expect("待办", mark, 20)
            counter.handled()
        at = next(n for n, message in enumerate(member.inbox()) if message is card)
        await member.tap(card, "报到")
        card = await member.expect(f"#{issue}", at, 20, button="办结")
        counter.handled()
        await member.tap(card, "办结")
        await member.expect("办结说明", mark, 20)
        counter.handled()
        await member.send(f"已处理 {issue}")
        prompt = await member.expect("处置后照片", mark, 20)
        counter.handled()
        await member.tap(prompt, "跳过")
        await member.expect(f"已办结 #{issue}", mark, 20)
        counter.handled()
    await worker.tap(await worker.expect(f"已处理 {issue}", told, 20, button="确认"), "确认")
    rating = await worker.expect("请评价", told, 20, button="满意")
    counter.handled()
    mark = worker.mark()
    await worker.answer_to(await worker.tap(rating, rng.choice(["满意", "基本满意"])), 20)
    counter.handled()
    if rng.random() < 0.25:
        await worker.send("/my")
        await worker.expect("我上报的问题", mark, 20)
        counter.handled()
    counter.closed += 1


async def ready(api: LoopbackBotApi, user: SimulatedUser, folder: Path) -> None:
    """Wait until the bot process answers (it imports the organisation file first)."""
    mark = user.mark()
    await user.send("/help")
    try:
        await user.expect("", mark, 60)
    except AssertionError:
        log = folder / "bot.log"
        tail = log.read_text(encoding="utf-8")[-2000:] if log.exists() else ""
        raise SystemExit(f"the bot did not start:\n{tail}") from None


async def measure_whistle(
    seconds: float,
    loads: list[int],
    client: str = "httpx",
    concurrent: int = 64,
    latency: float = 0.0,
) -> tuple[list[LoadStep], float]:
    rng = random.Random(7)
    folder = Path(tempfile.mkdtemp(prefix="whistle-load-"))
    district = big_district()
    (folder / "district.toml").write_text(district, encoding="utf-8")
    api = await street_server(latency=latency)
    register_staff(api, district)
    workers = [api.user(FIRST_WORKER + k, f"W{k}") for k in range(EXTRA_WORKERS)]
    env = {
        **unpaced_environment(api, folder / "w.db", folder / "district.toml"),
        "WHISTLE_BOT_API_CLIENT": client,
        "WHISTLE_CONCURRENT_UPDATES": str(concurrent),
    }
    bot = BotProcess(env, folder)
    results: list[LoadStep] = []
    best = 0.0
    await bot.start()
    assert bot.process is not None
    pid = bot.process.pid
    try:
        await ready(api, workers[0], folder)
        pushed: dict[int, float] = {}
        desks: dict[int, asyncio.Lock] = {}
        lost: list[BaseException] = []
        for load in loads:
            counter = Counter()
            counter.pushed = pushed
            api.observers[:] = [counter.observe]
            free = list(workers)
            running: set[asyncio.Task[None]] = set()
            spent = cpu_seconds(pid)
            began = time.monotonic()
            started = 0
            while time.monotonic() - began < seconds:
                target = int((time.monotonic() - began) * load)
                while started < target and free:
                    worker = free.pop()
                    issue = life_of_an_issue(api, worker, rng, counter, desks)
                    street.run_life(issue, worker, running, free, lost, rotate=False)
                    started += 1
                await asyncio.sleep(0.005)
            await asyncio.gather(*running, return_exceptions=True)
            elapsed = time.monotonic() - began
            spent = cpu_seconds(pid) - spent
            if lost:
                print(f"{len(lost)} simulated people gave up at {load}/s: {lost[0]!r}")
                lost.clear()
            if counter.latencies:
                median = statistics.median(counter.latencies) * 1000
                p99 = percentile(counter.latencies, 0.99) * 1000
            else:
                median = p99 = float("nan")
            per_issue = counter.calls / counter.completed if counter.completed else float("nan")
            results.append(
                LoadStep(
                    load,
                    counter.updates / elapsed,
                    counter.completed / elapsed,
                    counter.closed / elapsed,
                    median,
                    p99,
                    per_issue,
                    counter.calls / counter.updates if counter.updates else float("nan"),
                    spent * 1000 / counter.updates if counter.updates else float("nan"),
                )
            )
            if p99 < 100:
                best = max(best, counter.completed / elapsed)
    finally:
        await bot.stop()
        await api.stop()
    return results, best


async def measure_echo(
    updates: int, concurrent: int = 0, conversing: int = 0, calls_per_update: float = 1.0
) -> tuple[float, float]:
    """Updates per second of the bare echo bot (its own process), and its CPU time per
    update in milliseconds. All `updates` are queued at once and drained (its best case:
    100 per getUpdates); or, with `conversing` people, each sends, waits for the answer
    and sends again, as Whistle's grid workers do."""
    api = LoopbackBotApi()
    await api.start()
    users = [api.user(40000 + n, f"E{n}") for n in range(max(50, conversing))]
    replies = 0

    def count(kind: str, event: object) -> None:
        nonlocal replies
        if kind == "message" and isinstance(event, SentMessage) and event.from_bot:
            replies += 1

    api.observers.append(count)
    command = [sys.executable, "-m", "bench.echo_bot", api.base_url, api.token]
    command += ["--calls-per-update", str(calls_per_update)]
    if concurrent:
        command += ["--concurrent", str(concurrent)]
    process = await asyncio.create_subprocess_exec(*command)
    try:
        await users[0].send("warm up")
        await api.wait_for(lambda: replies >= replies_to(1, calls_per_update), 60)
        spent = cpu_seconds(process.pid)
        began = time.monotonic()
        if conversing:
            sent = 0

            async def converse(user: SimulatedUser) -> None:
                nonlocal sent
                while sent < updates:
                    sent += 1
                    mark = user.mark()
                    await user.send(f"echo {sent}")
                    await user.expect("echo", mark, 60)

            await asyncio.gather(*(converse(u) for u in users[:conversing]))
        else:
            for n in range(updates):
                await users[n % len(users)].send(f"echo {n}")
        expected = sum(replies_to(n, calls_per_update) for n in range(1, updates + 2))
        await api.wait_for(lambda: replies >= expected, 600)
        elapsed = time.monotonic() - began
        spent = cpu_seconds(process.pid) - spent
    finally:
        process.terminate()
        await process.wait()
        await api.stop()
    return updates / elapsed, spent * 1000 / updates


def print_table(results: list[LoadStep]) -> None:
    print(
        "offered issues/s | updates/s | reports/s | closed/s | 提交→push median | p99 "
        "| calls/issue | bot CPU/update"
    )
    for step in results:
        print(
            f"{step.offered:>16} | {step.updates_per_second:>9.0f} | "
            f"{step.reports_per_second:>9.1f} | {step.closed_per_second:>8.1f} | "
            f"{step.median_ms:>13.0f} ms | "
            f"{step.p99_ms:.0f} ms | {step.calls_per_issue:.1f} | "
            f"{step.cpu_ms_per_update:.2f} ms"
        )


async def main(
    seconds: float,
    loads: list[int],
    clients: list[str],
    network: float,
    network_loads: list[float],
) -> None:
    total = 0
    peaks: dict[str, float] = {}
    costs: dict[str, float] = {}
    calls: list[float] = []
    for client in clients:
        results, best = await measure_whistle(seconds, loads, client)
        print(f"\nWhistle on loopback, Bot API client {client}, concurrent updates 64")
        print_table(results)
        print(f"highest completed reports/s with p99 < 100 ms: {best:.1f}")
        peak = max(results, key=lambda step: step.updates_per_second)
        peaks[client] = peak.updates_per_second
        costs[client] = peak.cpu_ms_per_update
        calls.append(peak.calls_per_update)
        total = max(total, sum(int(step.updates_per_second * seconds) for step in results))
    whistles_calls = round(statistics.mean(calls), 1)
    for how, conversing, calls_per_update in (
        ("all queued at once", 0, 1.0),
        (f"{EXTRA_WORKERS} people conversing", EXTRA_WORKERS, 1.0),
        (
            f"{EXTRA_WORKERS} people conversing, {whistles_calls} replies per update "
            "(as many Bot API calls as Whistle makes)",
            EXTRA_WORKERS,
            whistles_calls,
        ),
    ):
        runs = sorted(
            [
                await measure_echo(total, conversing=conversing, calls_per_update=calls_per_update)
                for _ in range(3)
            ]
        )
        echo, echo_cost = runs[1]
        print(
            f"\nbare PTB echo bot (httpx, one update at a time), {total} updates, {how}: "
            f"{echo:.0f} updates/s (median of {', '.join(f'{r:.0f}' for r, _ in runs)}), "
            f"{echo_cost:.2f} ms CPU per update"
        )
        for client, peak_rate in peaks.items():
            print(
                f"ratio of Whistle's peak ({client}, {peak_rate:.0f} updates/s) to it: "
                f"{peak_rate / echo:.2f}; per CPU second (echo's CPU per update over "
                f"Whistle's {costs[client]:.2f} ms): {echo_cost / costs[client]:.2f}"
            )
    if network <= 0:
        return
    street.report(
        network, await street.measure(network, network_loads, max(seconds, 20), street.WORKERS)
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--loads", default="5,10,20,40,80")
    parser.add_argument("--clients", default="httpx,aiohttp", help="Bot API clients to measure")
    parser.add_argument(
        "--network",
        type=float,
        default=0.2,
        help="seconds per call for the street over a network, pacing on (0 skips it)",
    )
    parser.add_argument("--network-loads", default="5", help="reports/s over the network")
    args = parser.parse_args()
    asyncio.run(
        main(
            args.seconds,
            [int(x) for x in args.loads.split(",")],
            args.clients.split(","),
            args.network,
            [float(x) for x in args.network_loads.split(",")],
        )
    )
