"""Pushes a burst through the outbox sender against the loopback Bot API server, which
answers 429 like Telegram when a limit is broken, and prints what it saw.

    python -m bench.sender_burst [--messages 2000] [--chats 200] [--urgent-share 0.1]
                                 [--latency 0.5]

`--latency` makes every call take that many seconds, half each way, as over a real
network: the sender must keep budget × round trip calls in flight to fill the budget.

Normal messages are all queued at the start; urgent ones arrive one by one while the
normal queue is long, and their wait is measured from their own arrival.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

from telegram import Bot
from telegram.request import HTTPXRequest

from bot.bot_api import Method
from bot.clock import SystemClock, to_epoch
from bot.sender import OutboxSender
from storage import outbox
from storage.db import Database
from whistle_testing import LoopbackBotApi, TelegramLimits


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, -(-int(share * len(ordered) * 100) // 100) - 1))]


async def main(messages: int, chats: int, urgent_share: float, latency: float = 0.0) -> None:
    api = LoopbackBotApi(faults=TelegramLimits(), latency=latency)
    await api.start()
    chat_ids = [5000 + n for n in range(chats)]
    for chat in chat_ids:
        api.user(chat, f"U{chat}")
    urgent_count = int(messages * urgent_share)
    normal_count = messages - urgent_count
    rng = random.Random(1)
    enqueued: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        async with Database(Path(folder) / "bench.db") as db:
            bot = Bot(
                api.token,
                base_url=api.base_url,
                request=HTTPXRequest(connection_pool_size=64, read_timeout=10),
            )
            await bot.initialize()
            sender = OutboxSender(db, bot, SystemClock())
            now = to_epoch(SystemClock().now())
            start = time.monotonic()
            async with db.write() as tx:
                for n in range(normal_count):
                    text = f"normal {n}"
                    enqueued[text] = start
                    await outbox.enqueue(
                        tx,
                        chat_id=chat_ids[n % chats],
                        method=Method.SEND_MESSAGE,
                        payload={"text": text},
                        purpose="notice",
                        now=now,
                    )
            sender.start()
            spacing = max(0.05, (normal_count / 30) * 0.8 / max(1, urgent_count))
            for n in range(urgent_count):
                await asyncio.sleep(spacing)
                text = f"urgent {n}"
                async with db.write() as tx:
                    await outbox.enqueue(
                        tx,
                        chat_id=rng.choice(chat_ids),
                        method=Method.SEND_MESSAGE,
                        payload={"text": text},
                        purpose="notice",
                        now=to_epoch(SystemClock().now()),
                        urgent=True,
                    )
                enqueued[text] = time.monotonic()
                sender.wake()
            deadline = time.monotonic() + 600
            while await outbox.pending_count(db.reader) and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.2)
            slots, round_trip = sender.slots, sender.round_trip or 0.0
            await sender.stop()
            await bot.shutdown()
    await api.stop()

    delivered = [c for c in api.calls if c.method == Method.SEND_MESSAGE and c.status == 200]
    first_at: dict[str, float] = {}
    for call in delivered:
        first_at.setdefault(str(call.params.get("text")), call.at)
    waits = {
        kind: [first_at[t] - enqueued[t] for t in first_at if t.startswith(kind)]
        for kind in ("urgent", "normal")
    }
    seconds = Counter(int(c.at - start) for c in delivered)
    per_chat = Counter((c.chat_id, int(c.at - start)) for c in delivered)
    sliding = max(
        sum(1 for other in delivered if 0 <= other.at - call.at < 1.0) for call in delivered
    )
    span = max(c.at for c in delivered) - min(c.at for c in delivered)
    print(
        f"messages delivered      {len(first_at)} of {messages} "
        f"({len(delivered) - len(first_at)} duplicates)"
    )
    print(
        f"throughput              {len(delivered) / span:.1f} messages/s over {span:.1f} s "
        f"(budget 30/s)"
    )
    print(
        f"largest overall rate    {max(seconds.values())} in a calendar second, "
        f"{sliding} in any rolling second"
    )
    print(f"largest per-chat rate   {max(per_chat.values())} in a second")
    refused = [c for c in api.calls if c.status == 429]
    last: dict[int | None, float] = {}
    per_chat_refusals = 0
    for call in api.calls:
        if call.status == 429 and call.at - last.get(call.chat_id, -10.0) < 1.0:
            per_chat_refusals += 1
        if call.status == 200:
            last[call.chat_id] = call.at
    print(
        f"429 answers             {len(refused)} ({per_chat_refusals} of them a chat's second "
        "message within a second)"
    )
    print(
        f"round trip              {latency * 1000:.0f} ms set, {round_trip * 1000:.0f} ms "
        f"measured; {slots} deliveries in flight at most"
    )
    for kind in ("urgent", "normal"):
        values = waits[kind]
        if values:
            print(
                f"{kind:<7} wait             median {statistics.median(values):.2f} s, "
                f"p99 {percentile(values, 0.99):.2f} s (n={len(values)})"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--chats", type=int, default=200)
    parser.add_argument("--urgent-share", type=float, default=0.1)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per call")
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.chats, args.urgent_share, args.latency))
