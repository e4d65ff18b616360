"""Whistle: 街乡吹哨、部门报到 — grid issue reporting, dispatch and response statistics."""

import os

# Opt in to python-telegram-bot's timedelta durations (RetryAfter.retry_after and others);
# the int form is deprecated since PTB 22.2 and warns on every access.
os.environ.setdefault("PTB_TIMEDELTA", "true")
