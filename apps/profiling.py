"""On-demand server-side profiling shared by both stacks (pyinstrument and yappi), off unless allowed.

With ``PROFILING_ALLOWED=true`` (run the service with ``SERVER_WORKERS=1`` so one process sees everything):
- one request: send ``X-Profile: pyinstrument`` or ``X-Profile: yappi`` (and optionally ``X-Profile-Label``);
- a short burst: ``POST /_profile/start?tool=pyinstrument|yappi&label=burst``, send traffic,
  then ``POST /_profile/stop``, which answers the files written.
Files go to ``PROFILING_DIR`` as ``{stack}-{service}-{tool}-{label}.{html,txt,json}``. The profiling
libraries are imported only when a profile is taken, so the services do not depend on them.

Bounded: one profile at a time per worker; at most ``PROFILING_MAX_FILES`` files in the directory (a
profile that would pass it is not taken) and none larger than ``PROFILING_MAX_FILE_BYTES`` (a larger
rendering is left out and reported). A profile never fails the request it profiles.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings

from reference.core import ApiError
from reference.settings import settings_config

PROFILE_HEADER = "X-Profile"
LABEL_HEADER = "X-Profile-Label"
START_PATH = "/_profile/start"
STOP_PATH = "/_profile/stop"
TOOLS = ("pyinstrument", "yappi")
TOP_FUNCTIONS = 40


class ProfilingSettings(BaseSettings):
    """Whether profiles may be triggered, and where they are written."""

    model_config = settings_config("PROFILING_")

    allowed: bool = Field(default=False, description="Allow X-Profile requests and the /_profile endpoints.")
    dir: Path = Field(default=Path("var/profiles"), description="Where profiles are written.")
    max_files: int = Field(default=200, ge=1, description="Files the profile directory may hold; no profile past it.")
    max_file_bytes: int = Field(
        default=20 * 1024 * 1024, ge=1024, description="Largest profile file written; a larger one is left out."
    )


def safe_label(label: str | None, default: str) -> str:
    """A label usable in a file name (clients choose it)."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "", label or "")[:40]
    return cleaned or default


def profile_stem(settings: ProfilingSettings, stack: str, service: str, tool: str, label: str) -> Path:
    """Where a profile goes, without its extension: the name says stack, service, tool and label."""
    settings.dir.mkdir(parents=True, exist_ok=True)
    return settings.dir / f"{stack}-{service}-{tool}-{label}"


def _named(stem: Path, extension: str) -> Path:
    # Not with_suffix: a label may hold dots, which it would take for the stem's suffix.
    return stem.with_name(f"{stem.name}.{extension}")


def has_room(settings: ProfilingSettings) -> bool:
    """True while the profile directory holds fewer than ``max_files`` files (a profile writes up to three)."""
    try:
        present = sum(1 for _ in settings.dir.iterdir())
    except OSError:
        present = 0
    return present + 3 <= settings.max_files


def write_bounded(path: Path, text: str, max_bytes: int) -> list[str]:
    """Write ``text`` to ``path`` unless it is larger than ``max_bytes``; the files written."""
    data = text.encode()
    if len(data) > max_bytes:
        return []
    path.write_bytes(data)
    return [str(path)]


def write_pyinstrument(session, stem: Path, max_bytes: int = 1 << 62) -> list[str]:
    """Write a pyinstrument session as HTML and text (each only if within ``max_bytes``)."""
    from pyinstrument.renderers import ConsoleRenderer, HTMLRenderer

    text = ConsoleRenderer(unicode=True, color=False, show_all=False).render(session)
    return [*write_bounded(_named(stem, "html"), HTMLRenderer().render(session), max_bytes),
            *write_bounded(_named(stem, "txt"), text, max_bytes)]  # fmt: skip


def yappi_start(clock: str, tag_callback=None, threads: bool = False) -> None:
    """Start yappi afresh with the given clock; tag calls (e.g. per asyncio task) and/or follow every thread."""
    import yappi

    yappi.stop()
    yappi.clear_stats()
    yappi.set_clock_type(clock)
    yappi.set_tag_callback(tag_callback)
    yappi.start(profile_threads=threads)


def yappi_stop(stem: Path, clock: str, per: str, max_bytes: int = 1 << 62) -> list[str]:
    """Stop yappi, write its statistics (see ``write_yappi``) and clear them."""
    import yappi

    yappi.stop()
    files = write_yappi(stem, clock, per, max_bytes)
    yappi.clear_stats()
    return files


def _func_rows(stats) -> list[dict]:
    return [
        {"name": s.name, "module": s.module, "line": s.lineno, "calls": s.ncall, "own_s": s.tsub, "total_s": s.ttot}
        for s in sorted(stats, key=lambda s: s.tsub, reverse=True)
    ]


def _format_rows(rows: list[dict]) -> list[str]:
    lines = [f"{'own s':>10} {'total s':>10} {'calls':>8}  function"]
    for row in rows[:TOP_FUNCTIONS]:
        where = f"{Path(row['module']).name}:{row['line']}"
        lines.append(f"{row['own_s']:10.6f} {row['total_s']:10.6f} {row['calls']:8d}  {row['name']} ({where})")
    return lines


def write_yappi(stem: Path, clock: str, per: str, max_bytes: int = 1 << 62) -> list[str]:
    """Write yappi's function stats (by own time) and a breakdown per ``thread`` or per ``coroutine`` (task tag)."""
    import yappi

    rows = _func_rows(yappi.get_func_stats())
    lines = [f"yappi, {clock} clock, top {TOP_FUNCTIONS} functions by own time", *_format_rows(rows), ""]
    if per == "thread":
        for thread in yappi.get_thread_stats():
            lines += [f"thread {thread.name} (id {thread.id}): {thread.ttot:.6f} s, scheduled {thread.sched_count}x"]
            lines += _format_rows(_func_rows(yappi.get_func_stats(filter={"ctx_id": thread.id})))[:11]
    else:
        tags = sorted({s.tag for s in yappi.get_func_stats()} - {0})
        lines.append(f"{len(tags)} coroutines (asyncio tasks), top 10 functions of each of the first 20")
        for tag in tags[:20]:
            lines += [f"task #{tag}", *_format_rows(_func_rows(yappi.get_func_stats(filter={"tag": tag})))[:11]]
    data = json.dumps({"clock": clock, "functions": rows[:TOP_FUNCTIONS]}, indent=1)
    return [*write_bounded(_named(stem, "txt"), "\n".join(lines) + "\n", max_bytes),
            *write_bounded(_named(stem, "json"), data, max_bytes)]  # fmt: skip


def busy() -> ApiError:
    """409: a profile is already running, or the directory is full."""
    return ApiError(409, "profiling_busy", "a profile is running, or the profile directory is full")


def bad_tool() -> ApiError:
    """422: an unknown profiler."""
    return ApiError(422, "invalid_input", f"tool must be one of {', '.join(TOOLS)}", field="tool")


def no_window() -> ApiError:
    """409: a stop with no profile running."""
    return ApiError(409, "no_profile", "no profiling window is open")


def answer(body: dict | ApiError) -> tuple[int, bytes]:
    """The status and JSON of a ``/_profile/*`` answer: what it did, or an error in the one shape."""
    status, body = (body.status, body.body()) if isinstance(body, ApiError) else (200, body)
    return status, json.dumps(body, separators=(",", ":")).encode()
