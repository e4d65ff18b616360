"""The bare python-telegram-bot echo bot `bench/load.py` compares Whistle with: one
handler that replies with the text it got, long polling, nothing else.

    python -m bench.echo_bot BASE_URL TOKEN [--concurrent N]
"""

from __future__ import annotations

import argparse

from telegram import Update
from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    assert message is not None
    await message.reply_text(message.text or "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_url")
    parser.add_argument("token")
    parser.add_argument("--concurrent", type=int, default=0)
    args = parser.parse_args()
    builder = ApplicationBuilder().token(args.token).base_url(args.base_url)
    if args.concurrent:
        builder = builder.concurrent_updates(args.concurrent)
    application = builder.build()
    application.add_handler(MessageHandler(filters.TEXT, echo))
    application.run_polling(poll_interval=0, timeout=1)


if __name__ == "__main__":
    main()
