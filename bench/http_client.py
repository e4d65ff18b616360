"""What one Bot API call costs the bot in CPU, by client and by calls in flight.

    python -m bench.http_client [--calls 3000] [--in-flight 1,4,16,64]

The loopback Bot API server runs in a child process, so the CPU time measured here is the
client's alone: PTB's request object (`HTTPXRequest`, the default, or Whistle's
`AiohttpRequest`) posting a `sendMessage` with Chinese text and an inline keyboard, the
way the bot does, `--calls` times with at most `--in-flight` calls under way at once.
Prints CPU microseconds per call and calls per second for each.

What it showed (py-spy on the client): httpx's CPU per call about doubles from 4 calls in
flight to 16 and more, because its connection pool asks every open connection whether it
has expired (a `poll()` and a `getpeername()` each) whenever a call starts or ends;
aiohttp's stays flat. Bounding the calls in flight inside the bot did not lower its CPU
per update in `bench.load`'s mix, where few calls are in flight at once.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.request import BaseRequest, HTTPXRequest, RequestData
from telegram.request._requestparameter import RequestParameter

from bot.transport import AiohttpRequest
from whistle_testing import LoopbackBotApi

CLIENTS: dict[str, Callable[[], BaseRequest]] = {
    "httpx": lambda: HTTPXRequest(connection_pool_size=16),
    "aiohttp": lambda: AiohttpRequest(connection_pool_size=16),
}
"""Each as the bot builds it (`bot.app.build_application`): 16 connections."""
CHAT = 7


async def serve() -> None:
    """The loopback server, until the parent closes this process's stdin."""
    async with LoopbackBotApi() as api:
        api.user(CHAT, "测")
        print(f"{api.base_url}{api.token}", flush=True)
        reader = asyncio.StreamReader()
        await asyncio.get_running_loop().connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
        )
        await reader.read()


def send_message() -> RequestData:
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("🙋 报到", callback_data="ack:1"),
                InlineKeyboardButton("↩️ 退回", callback_data="tr:1"),
            ]
        ]
    )
    fields = {
        "chat_id": CHAT,
        "text": "🔔 #1 环境卫生 状态：待报到 网格：幸福社区第一网格 描述：垃圾堆放三天无人清运",
        "parse_mode": "HTML",
        "reply_markup": keyboard,
    }
    return RequestData([RequestParameter.from_input(k, v) for k, v in fields.items()])


async def measure(base: str, client: str, calls: int, in_flight: int) -> tuple[float, float]:
    """CPU microseconds per call and calls per second."""
    request = CLIENTS[client]()
    await request.initialize()
    turns = asyncio.Semaphore(in_flight)

    async def one() -> None:
        async with turns:
            await request.post(f"{base}/sendMessage", send_message())

    try:
        await asyncio.gather(*(one() for _ in range(min(200, calls))))
        cpu, wall = time.process_time(), time.monotonic()
        await asyncio.gather(*(one() for _ in range(calls)))
        cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    finally:
        await request.shutdown()
    return cpu * 1e6 / calls, calls / wall


async def main(calls: int, in_flight: list[int]) -> None:
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.http_client",
        "--serve",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert server.stdin is not None and server.stdout is not None
    try:
        base = (await asyncio.wait_for(server.stdout.readline(), 30)).decode().strip()
        print(f"{calls} sendMessage calls per row, server in its own process (pid {server.pid})")
        print("client  | in flight | CPU per call | calls/s")
        for client in CLIENTS:
            for limit in in_flight:
                cpu, rate = await measure(base, client, calls, limit)
                print(f"{client:<7} | {limit:>9} | {cpu:>9.0f} µs | {rate:>7.0f}")
    finally:
        server.stdin.close()
        try:
            await asyncio.wait_for(server.wait(), 10)
        except TimeoutError:
            server.kill()
            await server.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--in-flight", default="1,4,16,64")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve())
    else:
        asyncio.run(main(args.calls, [int(n) for n in args.in_flight.split(",")]))
