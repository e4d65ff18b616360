"""The bare python-telegram-bot echo bot `bench/load.py` compares Whistle with: one
handler that replies with the text it got, long polling, nothing else.

    python -m bench.echo_bot BASE_URL TOKEN [--concurrent N] [--calls-per-update X]

With `--calls-per-update X` (say 2.5) it replies to the n-th update
`replies_to(n, X)` times, X on average: PTB's own cost for as many Bot API calls per
update as Whistle makes, without any of Whistle's work.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Coroutine
from typing import Any

from telegram import Update
from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters


def replies_to(n: int, calls_per_update: float) -> int:
    """How many replies the n-th update (from 1) gets: X on average, spread evenly."""
    return int(n * calls_per_update) - int((n - 1) * calls_per_update)


def echo_handler(
    calls_per_update: float,
) -> Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]:
    seen = 0

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        nonlocal seen
        seen += 1
        message = update.effective_message
        assert message is not None
        for _ in range(replies_to(seen, calls_per_update)):
            await message.reply_text(message.text or "")

    return echo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_url")
    parser.add_argument("token")
    parser.add_argument("--concurrent", type=int, default=0)
    parser.add_argument("--calls-per-update", type=float, default=1.0)
    args = parser.parse_args()
    builder = ApplicationBuilder().token(args.token).base_url(args.base_url)
    if args.concurrent:
        builder = builder.concurrent_updates(args.concurrent)
    application = builder.build()
    application.add_handler(MessageHandler(filters.TEXT, echo_handler(args.calls_per_update)))
    application.run_polling(poll_interval=0, timeout=1)


if __name__ == "__main__":
    main()
