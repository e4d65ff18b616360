"""The weekly chart, drawn in a short-lived child process.

matplotlib (with its fonts and numpy buffers) grows a process the first time it draws, and
a long-running bot would keep that memory for good: it was most of the bot's peak
(docs/performance.md, "Figures moved from the code"). The bot hands the child the
figures it already computed (pickled on stdin; the child is this same code) and reads
the PNG from stdout; the child's memory goes back to the system when it exits. Should
the child fail, the chart is drawn in a thread of the bot instead, so a report is never
sent without its chart.

    python -m bot.chart_process < pickled (report, trend, names, lang) > chart.png
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import sys
from collections.abc import Sequence

from bot.stats import Figures, WeeklyReport
from bot.stats_views import report_chart
from bot.views import Names

log = logging.getLogger(__name__)

CHART_SECONDS = 120.0
"""How long the child may take before the chart is drawn in the bot instead."""


async def chart_in_child(
    report: WeeklyReport,
    trend: Sequence[tuple[str, Figures]],
    names: Names,
    lang: str,
    seconds: float = CHART_SECONDS,
) -> bytes:
    """The chart as PNG bytes, drawn by a child process (see the module's docstring)."""
    payload = pickle.dumps((report, list(trend), names, lang))
    try:
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            __name__,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        problem = f"could not start the chart process ({exc})"
    else:
        try:
            png, errors = await asyncio.wait_for(child.communicate(payload), seconds)
        except TimeoutError:
            child.kill()
            await child.wait()
            problem = f"the chart process took over {seconds:.0f} s"
        except asyncio.CancelledError:
            # The bot is stopping (SIGTERM): the child goes with it, at once.
            child.kill()
            await child.wait()
            raise
        else:
            if child.returncode == 0 and png.startswith(b"\x89PNG"):
                return png
            details = errors.decode("utf-8", "replace")[-500:]
            problem = f"the chart process failed (exit {child.returncode}): {details}"
    log.warning("%s; drawing it here", problem)
    return await asyncio.to_thread(report_chart, report, trend, names, lang)


NO_CJK_FONT = (
    "no CJK font is installed: the charts' labels fall back to codes and English. Install "
    "one (e.g. apt-get install fonts-noto-cjk) and clear matplotlib's font cache "
    "(rm -rf ~/.cache/matplotlib) so that it is found"
)


async def check_cjk_font(seconds: float = CHART_SECONDS) -> str | None:
    """The CJK font the charts will use, found by a child (so the bot does not load
    matplotlib); without one, the log says so (once, at start)."""
    try:
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            __name__,
            "--font",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            out, _ = await asyncio.wait_for(child.communicate(), seconds)
        except (TimeoutError, asyncio.CancelledError):
            child.kill()
            await child.wait()
            raise
    except (OSError, TimeoutError) as exc:
        log.warning("could not look for a CJK font (%s)", exc)
        return None
    font = out.decode("utf-8", "replace").strip() or None
    if font is None:
        log.warning(NO_CJK_FONT)
    return font


def main() -> None:
    if sys.argv[1:] == ["--font"]:
        from bot.stats_views import _cjk_font

        print(_cjk_font() or "")
        return
    report, trend, names, lang = pickle.loads(sys.stdin.buffer.read())
    sys.stdout.buffer.write(report_chart(report, trend, names, lang))
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()
