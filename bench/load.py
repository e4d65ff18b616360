"""Load: simulated grid workers and members drive Whistle through the loopback Bot API
server at several offered loads, then a bare python-telegram-bot echo bot is driven with
the same number of updates, in the same run.

    python bench/load.py [--seconds 8] [--loads 5,10,20,40,80]

Prints, per offered load (reports started per second): updates processed per second,
reports completed per second, and the latency from a report's 提交 to its push reaching
the server (median, p99); the highest load whose p99 stays under 100 ms; the echo bot's
updates per second and Whistle's ratio to it. Pacing limits are lifted (loopback has
none), so the figures measure Whistle, not Telegram's ceiling.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import statistics
import tempfile
import time
from pathlib import Path

from telegram import Update
from telegram.ext import Application, ApplicationBuilder, MessageHandler, filters

from bot.app import Whistle
from bot.loopback import LoopbackBotApi, SentMessage, SimulatedUser
from bot.settings import Settings

DISTRICT = Path(__file__).resolve().parent.parent / "bot" / "data" / "district.toml"
EXTRA_WORKERS = 300
FIRST_WORKER = 30000


def big_district() -> str:
    """The example district with many more grid workers, spread over its grids."""
    text = DISTRICT.read_text(encoding="utf-8")
    for n, grid in enumerate(("G01", "G02", "G03", "G04", "G05", "G06")):
        ids = [FIRST_WORKER + k for k in range(EXTRA_WORKERS) if k % 6 == n]
        text = re.sub(
            rf'(code = "{grid}"\nname = "[^"]+"\nworkers = \[)([^\]]*)\]',
            lambda m, ids=ids: m.group(1) + m.group(2) + ", " + ", ".join(map(str, ids)) + "]",
            text,
        )
    return text


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, -(-int(share * len(ordered) * 1000) // 1000) - 1)]


class Counter:
    def __init__(self) -> None:
        self.updates = 0
        self.completed = 0
        self.latencies: list[float] = []
        self.pushed: dict[int, float] = {}
        """When each issue's first card reached the server."""

    def observe(self, kind: str, event: object) -> None:
        if kind != "message" or not isinstance(event, SentMessage):
            return
        if 0 < event.chat_id < 2000 and event.text.startswith(("🔔", "🔴")):
            found = re.match(r"\S+ #(\d+) ", event.text)
            if found:
                self.pushed.setdefault(int(found.group(1)), event.at)


async def one_report(
    api: LoopbackBotApi, worker: SimulatedUser, rng: random.Random, counter: Counter
) -> None:
    mark = worker.mark()
    steps = 0
    try:
        await worker.send("/report")
        await worker.tap(
            await worker.expect("请选择问题类别", mark, 20),
            rng.choice(["环境卫生", "占道经营", "噪音扰民", "施工扰民", "食品安全", "路灯不亮"]),
        )
        await worker.expect("请用文字描述问题", mark, 20)
        await worker.send(f"压力测试 {rng.randrange(10**9)}")
        await worker.expect("请发送现场照片", mark, 20)
        await worker.send_photo()
        await worker.tap(await worker.expect("已收到 1 张照片", mark, 20), "完成")
        await worker.expect("请发送位置", mark, 20)
        await worker.send_location(39.9, 116.4)
        await worker.tap(await worker.expect("紧急吗", mark, 20), "一般")
        summary = await worker.expect("请核对", mark, 20)
        submitted = time.monotonic()
        await worker.tap(summary, "提交")
        receipt = await worker.expect("已上报", mark, 20)
        steps = 8
        number = re.search(r"#(\d+)", receipt.text)
        assert number is not None
        issue = int(number.group(1))
        arrived = await api.wait_for(lambda: counter.pushed.get(issue), 20)
        counter.latencies.append(arrived - submitted)
        counter.completed += 1
    finally:
        counter.updates += steps


async def measure_whistle(
    seconds: float, loads: list[int]
) -> tuple[list[tuple[int, float, float, float, float]], float]:
    rng = random.Random(7)
    folder = Path(tempfile.mkdtemp(prefix="whistle-load-"))
    (folder / "district.toml").write_text(big_district(), encoding="utf-8")
    api = LoopbackBotApi()
    await api.start()
    for chat in (-1001000000001, -1001000000002, -1001000000004):
        api.group(chat, str(chat))
    settings = Settings(
        telegram_token=api.token,
        telegram_api_url=api.base_url,
        database=folder / "w.db",
        org_file=folder / "district.toml",
        admin_ids=[3001],
        poll_timeout_seconds=1,
        send_rate_overall=100000,
        send_rate_private_chat=100000,
        send_rate_group_per_minute=10**7,
        weekly_stats=False,
        report_limit_per_hour=10**6,
        _env_file=None,  # type: ignore[call-arg]
    )
    for uid in range(1000, 1800):
        api.user(uid, f"M{uid}")
    workers = [api.user(FIRST_WORKER + k, f"W{k}") for k in range(EXTRA_WORKERS)]
    results = []
    best = 0.0
    async with Whistle(settings):
        pushed: dict[int, float] = {}
        for load in loads:
            counter = Counter()
            counter.pushed = pushed
            api.observers[:] = [counter.observe]
            free = list(workers)
            running: set[asyncio.Task[None]] = set()
            began = time.monotonic()
            started = 0
            while time.monotonic() - began < seconds:
                target = int((time.monotonic() - began) * load)
                while started < target and free:
                    worker = free.pop()
                    task = asyncio.create_task(one_report(api, worker, rng, counter))
                    running.add(task)
                    task.add_done_callback(
                        lambda t, w=worker, r=running, f=free: (r.discard(t), f.append(w))
                    )
                    started += 1
                await asyncio.sleep(0.005)
            await asyncio.gather(*running, return_exceptions=True)
            elapsed = time.monotonic() - began
            if counter.latencies:
                median = statistics.median(counter.latencies) * 1000
                p99 = percentile(counter.latencies, 0.99) * 1000
            else:
                median = p99 = float("nan")
            results.append(
                (load, counter.updates / elapsed, counter.completed / elapsed, median, p99)
            )
            if p99 < 100:
                best = max(best, counter.completed / elapsed)
    await api.stop()
    return results, best


async def measure_echo(updates: int) -> float:
    api = LoopbackBotApi()
    await api.start()
    users = [api.user(40000 + n, f"E{n}") for n in range(50)]

    async def echo(update: Update, context: object) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(update.effective_message.text or "")

    application: Application = (  # type: ignore[type-arg]
        ApplicationBuilder().token(api.token).base_url(api.base_url).build()
    )
    application.add_handler(MessageHandler(filters.TEXT, echo))
    async with application:
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0, timeout=1)
        began = time.monotonic()
        for n in range(updates):
            await users[n % len(users)].send(f"echo {n}")
        await api.wait_for(lambda: sum(1 for m in api.messages if m.from_bot) >= updates, 600)
        elapsed = time.monotonic() - began
        await application.updater.stop()
        await application.stop()
    await api.stop()
    return updates / elapsed


async def main(seconds: float, loads: list[int]) -> None:
    results, best = await measure_whistle(seconds, loads)
    print("offered reports/s | updates/s | reports/s | 提交→push median | p99")
    for load, updates, completed, median, p99 in results:
        print(
            f"{load:>17} | {updates:>9.0f} | {completed:>9.1f} | {median:>13.0f} ms | {p99:.0f} ms"
        )
    print(f"highest completed reports/s with p99 < 100 ms: {best:.1f}")
    peak = max(updates for _, updates, _, _, _ in results)
    echo = await measure_echo(2000)
    print(
        f"bare PTB echo bot: {echo:.0f} updates/s; Whistle's peak {peak:.0f} updates/s "
        f"→ ratio {peak / echo:.2f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--loads", default="5,10,20,40,80")
    args = parser.parse_args()
    asyncio.run(main(args.seconds, [int(x) for x in args.loads.split(",")]))
