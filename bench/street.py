"""A street over a slow network: Whistle with Telegram's pacing on, against the loopback
Bot API server delaying every call (half each way, as a proxy to Telegram would), with
issues spread over the departments as in a street.

    python -m bench.street [--latency 0.2] [--loads 5] [--seconds 20] [--workers 60]

20 departments (a head and three members each, and a group), one category each, six
grids of grid workers. Each issue's life: a report without photo or location (/report,
category, description, 跳过 the photo, 跳过 the location, urgency, 提交); the member whose
card arrives taps 报到, 办结, writes a note and skips the photo; the worker taps 确认 and
rates. Each person does one thing at a time.

Prints, per offered load: each step's latency from the person's tap or message to the
answer reaching their chat (the next prompt sent or the card edited), in round trips
(median, p90), for the worker's report steps and the member's; 提交→push (median, p99)
in round trips and ms; Bot API calls per issue by kind, and the messages each issue costs
against Telegram's 30/s and each group's 20/min. Then the highest load whose 提交→push
p99 stays under 1.5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import socket
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.crash import BotProcess, bot_environment
from bot.bot_api import Method
from whistle_testing import ApiCall, LoopbackBotApi, SentMessage, SimulatedUser
from whistle_testing.faults import SENDING_METHODS

DEPARTMENTS = 20
MEMBERS = 3
FIRST_WORKER = 30000
GRIDS = 6
WORKERS = 60
P99_TARGET = 1.5


def head_of(department: int) -> int:
    return 1000 + 10 * department


def group_of(department: int) -> int:
    return -1002000000000 - department


def category_name(department: int) -> str:
    return f"类别{department:02d}"


def street_district(workers: int) -> str:
    """An organisation file: DEPARTMENTS departments with a head, MEMBERS members and a
    group each, one category per department, `workers` grid workers over GRIDS grids."""
    lines = ['timezone = "Asia/Shanghai"', ""]
    for d in range(DEPARTMENTS):
        head = head_of(d)
        members = ", ".join(str(head + k) for k in range(1, MEMBERS + 1))
        lines += [
            "[[department]]",
            f'code = "d{d:02d}"',
            f'name = "部门{d:02d}"',
            f"head = {head}",
            f"members = [{members}]",
            f"group_chat = {group_of(d)}",
            "",
            "[[category]]",
            f'code = "c{d:02d}"',
            f'name = "{category_name(d)}"',
            f'department = "d{d:02d}"',
            "ack_minutes = 30",
            "resolve_hours = 24",
            "",
        ]
    for g in range(GRIDS):
        ids = ", ".join(str(FIRST_WORKER + k) for k in range(workers) if k % GRIDS == g)
        lines += ["[[grid]]", f'code = "G{g:02d}"', f'name = "网格{g:02d}"']
        lines += [f"workers = [{ids}]", ""]
    return "\n".join(lines)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def paced_environment(api: LoopbackBotApi, database: Path, org_file: Path) -> dict[str, str]:
    """A `whistle run` environment with Telegram's own pacing (the defaults)."""
    return {
        **bot_environment(api, database, org_file),
        "WHISTLE_SEND_RATE_OVERALL": "30",
        "WHISTLE_SEND_RATE_PRIVATE_CHAT": "1",
        "WHISTLE_SEND_RATE_GROUP_PER_MINUTE": "20",
        "WHISTLE_REPORT_LIMIT_PER_HOUR": "1000000",
        "WHISTLE_CONCURRENT_UPDATES": "64",
    }


VISIBLE = frozenset(SENDING_METHODS)


def pushed_issue(message: SentMessage) -> int | None:
    """The issue a new-issue card (🔔, or 🔴 when urgent) pushed to a member's private chat
    is for; None for any other message."""
    if 0 < message.chat_id < 2000 and message.text.startswith(("🔔", "🔴")):
        found = re.match(r"\S+ #(\d+) ", message.text)
        if found:
            return int(found.group(1))
    return None


@dataclass
class Watch:
    """What the simulated people saw: step latencies, pushes, calls by kind."""

    steps: dict[str, list[float]] = field(default_factory=lambda: {"worker": [], "member": []})
    pushes: list[float] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    pushed: dict[int, float] = field(default_factory=dict)
    cards: dict[int, SentMessage] = field(default_factory=dict)
    trace: list[str] = field(default_factory=list)
    """With `tracing`: every call and action, with its time, for the first issue."""
    tracing: bool = False
    waiting: dict[int, tuple[str, float]] = field(default_factory=dict)
    """Chat → (whose step, when the person acted): the next visible call to the chat, or
    the answer to the person's tap, ends it."""
    taps: dict[str, int] = field(default_factory=dict)
    """A tap's callback query → the person who tapped."""
    issues: int = 0
    counting: bool = True

    async def tap(self, user: SimulatedUser, message: SentMessage, label: str, what: str) -> str:
        """The person taps a button; the tap's answer or the next message ends the step."""
        self.act(user, user_kind(user), what)
        query = await user.tap(message, label)
        self.taps[query] = user.id
        return query

    def act(self, user: SimulatedUser, who: str, what: str) -> None:
        self.waiting[user.id] = (who, time.monotonic())
        if self.tracing:
            self.trace.append(f"{time.monotonic():.3f} {who} {user.id}: {what}")

    def observe(self, kind: str, event: object) -> None:
        if self.tracing and isinstance(event, ApiCall) and event.method != Method.GET_UPDATES:
            self.trace.append(f"{event.at:.3f}   bot → {event.method} {event.chat_id}")
        if kind == "call" and isinstance(event, ApiCall) and event.status == 200:
            if self.counting:
                self.calls[call_kind(event)] += 1
            chat = event.chat_id or 0
            if event.method == Method.ANSWER_CALLBACK_QUERY:
                chat = self.taps.pop(str(event.params.get("callback_query_id")), 0)
            waiting = self.waiting.get(chat)
            if chat and waiting is not None and event.at >= waiting[1]:
                del self.waiting[chat]
                if self.counting:
                    self.steps[waiting[0]].append(event.at - waiting[1])
        if kind != "message" or not isinstance(event, SentMessage):
            return
        number = pushed_issue(event)
        if number is not None:
            self.pushed.setdefault(number, event.at)
            self.cards.setdefault(number, event)


def user_kind(user: SimulatedUser) -> str:
    return "worker" if user.id >= FIRST_WORKER else "member"


def call_kind(call: ApiCall) -> str:
    if call.chat_id is None:
        return call.method
    return f"{call.method} to a {'group' if call.chat_id < 0 else 'private chat'}"


async def life(
    api: LoopbackBotApi,
    worker: SimulatedUser,
    rng: random.Random,
    watch: Watch,
    desks: dict[int, asyncio.Lock],
    patience: float,
    whole: bool,
) -> None:
    """One issue: the report conversation and its push; if `whole`, then the member's 报到
    and 办结, 确认 and a rating."""
    mark = worker.mark()
    watch.act(worker, "worker", "/report")
    await worker.send("/report")
    prompt = await worker.expect("请选择问题类别", mark, patience)
    await watch.tap(worker, prompt, category_name(rng.randrange(DEPARTMENTS)), "tap category")
    await worker.expect("请用文字描述问题", mark, patience)
    watch.act(worker, "worker", "description")
    await worker.send(f"路上测试 {rng.randrange(10**9)}")
    prompt = await worker.expect("请发送现场照片", mark, patience)
    await watch.tap(worker, prompt, "跳过", "tap 跳过 photo")
    prompt = await worker.expect("请发送位置", mark, patience)
    await watch.tap(worker, prompt, "跳过", "tap 跳过 location")
    prompt = await worker.expect("紧急程度", mark, patience)
    await watch.tap(worker, prompt, "一般", "tap 一般")
    summary = await worker.expect("请核对", mark, patience)
    told = worker.mark()
    submitted = time.monotonic()
    await watch.tap(worker, summary, "提交", "tap 提交")
    receipt = await worker.expect("已上报", mark, patience)
    number = re.search(r"#(\d+)", receipt.text)
    assert number is not None
    issue = int(number.group(1))
    arrived = await api.wait_for(lambda: watch.pushed.get(issue), patience)
    if watch.counting:
        watch.pushes.append(arrived - submitted)
    if not whole:
        if watch.counting:
            watch.issues += 1
        return
    card = watch.cards[issue]
    member = api.user(card.chat_id, f"M{card.chat_id}")
    async with desks.setdefault(member.id, asyncio.Lock()):
        mark = member.mark()
        at = next(n for n, message in enumerate(member.inbox()) if message is card)
        await watch.tap(member, card, "报到", "tap 报到")
        card = await member.expect(f"#{issue}", at, patience, button="办结")
        await watch.tap(member, card, "办结", "tap 办结")
        await member.expect("办结说明", mark, patience)
        watch.act(member, "member", "note")
        await member.send(f"已处理 {issue}")
        prompt = await member.expect("处置后照片", mark, patience)
        await watch.tap(member, prompt, "跳过", "tap 跳过 photo")
        await member.expect(f"已办结 #{issue}", mark, patience)
    notice = await worker.expect(f"已处理 {issue}", told, patience, button="确认")
    await watch.tap(worker, notice, "确认", "tap 确认")
    rating = await worker.expect("请评价", told, patience, button="满意")
    await worker.answer_to(await watch.tap(worker, rating, "满意", "tap 满意"), patience)
    if watch.counting:
        watch.issues += 1


def run_life(
    issue: Coroutine[Any, Any, None],
    worker: SimulatedUser,
    running: set[asyncio.Task[None]],
    free: list[SimulatedUser],
    lost: list[BaseException],
    *,
    rotate: bool,
) -> None:
    """Start one simulated issue as a task in `running`. When it ends its worker goes back
    into `free` (to the front with `rotate`, so every worker takes a turn; else to the end,
    to be picked next) and what made it fail, if anything, into `lost`."""
    task = asyncio.create_task(issue)
    running.add(task)

    def release(task: asyncio.Task[None]) -> None:
        running.discard(task)
        if rotate:
            free.insert(0, worker)
        else:
            free.append(worker)
        failure = None if task.cancelled() else task.exception()
        if failure is not None:
            lost.append(failure)

    task.add_done_callback(release)


@dataclass
class StreetStep:
    offered: float
    issues: int
    worker_steps: list[float]
    member_steps: list[float]
    pushes: list[float]
    calls: Counter[str]
    seconds: float


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, -(-int(share * len(ordered) * 1000) // 1000) - 1)]


async def measure(
    latency: float,
    loads: list[float],
    seconds: float,
    workers: int,
    whole: bool = True,
    patience: float = 60,
    trace: bool = False,
    webhook: bool = False,
) -> list[StreetStep]:
    folder = Path(tempfile.mkdtemp(prefix="whistle-street-"))
    people = max([workers, *(int(load * 12) for load in loads)])
    (folder / "district.toml").write_text(street_district(people), encoding="utf-8")
    api = LoopbackBotApi(latency=latency)
    await api.start()
    for d in range(DEPARTMENTS):
        api.group(group_of(d), f"部门{d:02d}")
        for k in range(MEMBERS + 1):
            api.user(head_of(d) + k, f"M{head_of(d) + k}")
    api.user(3001, "admin")
    everyone = [api.user(FIRST_WORKER + k, f"W{k}") for k in range(people)]
    env = paced_environment(api, folder / "w.db", folder / "district.toml")
    if webhook:
        port = free_port()
        env["WHISTLE_WEBHOOK_URL"] = f"http://127.0.0.1:{port}/telegram"
        env["WHISTLE_WEBHOOK_LISTEN"] = f"127.0.0.1:{port}"
    bot = BotProcess(env, folder)
    await bot.start()
    rng = random.Random(11)
    results: list[StreetStep] = []
    try:
        probe = everyone[0]
        mark = probe.mark()
        await probe.send("/help")
        await probe.expect("", mark, 60)
        desks: dict[int, asyncio.Lock] = {}
        if trace:
            watch = Watch(tracing=True)
            api.observers[:] = [watch.observe]
            await life(api, everyone[1], rng, watch, desks, patience, whole)
            began = float(watch.trace[0].split()[0])
            print(f"\none issue alone over a {latency * 1000:.0f} ms network (ms since /report):")
            for line in watch.trace:
                at, rest = line.split(" ", 1)
                print(f"{(float(at) - began) * 1000:7.0f} {rest}")
        for load in loads:
            watch = Watch()
            api.observers[:] = [watch.observe]
            free = everyone[: max(workers, int(load * 12))]
            rng.shuffle(free)
            running: set[asyncio.Task[None]] = set()
            lost: list[BaseException] = []
            began = time.monotonic()
            started = 0
            while time.monotonic() - began < seconds:
                while started < int((time.monotonic() - began) * load) and free:
                    worker = free.pop()
                    issue = life(api, worker, rng, watch, desks, patience, whole)
                    run_life(issue, worker, running, free, lost, rotate=True)
                    started += 1
                await asyncio.sleep(0.01)
            elapsed = time.monotonic() - began
            await asyncio.gather(*running, return_exceptions=True)
            watch.counting = False
            if lost:
                print(f"{len(lost)} simulated people gave up at {load}/s: {lost[0]!r}")
            results.append(
                StreetStep(
                    load,
                    watch.issues,
                    watch.steps["worker"],
                    watch.steps["member"],
                    watch.pushes,
                    watch.calls,
                    elapsed,
                )
            )
    finally:
        await bot.stop()
        await api.stop()
    return results


def report(latency: float, results: list[StreetStep], how: str = Method.GET_UPDATES) -> None:
    rtt = latency or 1.0
    print(
        f"\nWhistle over a {latency * 1000:.0f} ms network (half each way), Telegram's pacing "
        f"on, {DEPARTMENTS} departments, updates by {how}"
    )
    print(
        "offered/s | issues | report step (round trips) median / p90 | member step median / "
        "p90 | 提交→push median / p99"
    )
    best = 0.0
    for step in results:
        w, m, p = step.worker_steps, step.member_steps, step.pushes
        print(
            f"{step.offered:>9g} | {step.issues:>6} | "
            f"{statistics.median(w) / rtt if w else float('nan'):.2f} / "
            f"{percentile(w, 0.9) / rtt:.2f} | "
            f"{statistics.median(m) / rtt if m else float('nan'):.2f} / "
            f"{percentile(m, 0.9) / rtt:.2f} | "
            f"{statistics.median(p) / rtt if p else float('nan'):.2f} / "
            f"{percentile(p, 0.99) / rtt:.2f} round trips "
            f"({statistics.median(p) * 1000 if p else float('nan'):.0f} / "
            f"{percentile(p, 0.99) * 1000:.0f} ms)"
        )
        if p and percentile(p, 0.99) < P99_TARGET:
            best = max(best, step.offered)
    print(f"highest offered reports/s with 提交→push p99 < {P99_TARGET} s: {best:g}")
    for step in results:
        issues = max(1, step.issues)
        print(f"\nBot API calls per issue at {step.offered:g}/s ({step.issues} issues):")
        messages = 0.0
        group = 0.0
        for kind, count in sorted(step.calls.items(), key=lambda item: -item[1]):
            if kind.startswith(Method.GET_UPDATES):
                continue
            per = count / issues
            print(f"  {kind:<40} {per:5.2f}")
            if kind.split(" ")[0] in VISIBLE:
                messages += per
                if kind.endswith("group"):
                    group += per
        total = sum(c for k, c in step.calls.items() if not k.startswith(Method.GET_UPDATES))
        print(f"  {'all calls':<40} {total / issues:5.2f}")
        print(
            f"  messages (sends and edits) per issue {messages:.2f}: Telegram's 30/s carries "
            f"{30 / messages if messages else float('inf'):.1f} issues/s; "
            f"{group:.2f} to the department's group, whose 20/min carries "
            f"{20 / group if group else float('inf'):.1f} of its issues a minute"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per call")
    parser.add_argument("--loads", default="5", help="offered reports/s, comma-separated")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=WORKERS)
    parser.add_argument(
        "--reports-only",
        action="store_true",
        help="each issue ends when its push arrives (no 报到, 办结, 确认, rating)",
    )
    parser.add_argument("--trace", action="store_true", help="first trace one issue alone")
    parser.add_argument(
        "--webhook", action="store_true", help="updates come by webhook instead of getUpdates"
    )
    args = parser.parse_args()
    loads = [float(x) for x in args.loads.split(",")]
    results = asyncio.run(
        measure(
            args.latency,
            loads,
            args.seconds,
            args.workers,
            whole=not args.reports_only,
            trace=args.trace,
            webhook=args.webhook,
        )
    )
    report(args.latency, results, "webhook" if args.webhook else Method.GET_UPDATES)


if __name__ == "__main__":
    main()
