"""The README and the quick start run as written: every command they show exists (a make target of the Makefile, a
module that answers ``--help`` with the options used, a compose command over the compose file's own profiles and
services), every curl line is one that ``make up`` prints, and the README stays short with its answer block."""

from __future__ import annotations

import functools
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from benchmark.answer import BLOCK
from system_launcher.settings import StackSettings
from system_launcher.up import curl_lines

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
QUICKSTART = ROOT / "doc" / "quickstart.md"
README_MAX_LINES = 300
COMMAND_WORDS = ("make", "python", ".venv/bin/python", "docker", "curl")
# docker compose's global options that take a value, and the subcommands these docs may show.
COMPOSE_VALUED_OPTIONS = {"--profile", "-f", "--file", "-p", "--project-name", "--env-file"}
COMPOSE_SUBCOMMANDS = {"up", "down", "config", "build", "ps", "logs", "exec", "run", "stop", "start", "restart", "pull"}
ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=.*")


@dataclass(frozen=True)
class Command:
    """A command as a reader would paste it: where it is, its text, and its words (environment assignments first)."""

    where: str
    text: str
    words: tuple[str, ...]

    @property
    def argv(self) -> tuple[str, ...]:
        """The words after the leading ``NAME=value`` assignments."""
        words = list(self.words)
        while words and ASSIGNMENT.fullmatch(words[0]):
            words.pop(0)
        return tuple(words)


def code_lines(text: str) -> list[tuple[int, str]]:
    """``(line number, code)`` of every line of a fenced code block, and of every inline code span outside them."""
    found, fenced = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif fenced:
            found.append((number, line.strip()))
        else:
            found += [(number, span) for span in re.findall(r"`([^`\n]+)`", line)]
    return found


def commands(path: Path) -> list[Command]:
    """Every command of a page: code that starts with a command word, after any environment assignments."""
    found = []
    for number, line in code_lines(path.read_text()):
        try:
            words = tuple(shlex.split(line, comments=True))
        except ValueError:
            continue  # not shell: a JSON body, a table's code
        command = Command(f"{path.relative_to(ROOT)}:{number}", line, words)
        if command.argv and command.argv[0] in COMMAND_WORDS:
            found.append(command)
    return found


def pages_commands() -> list[Command]:
    return commands(README) + commands(QUICKSTART)


@functools.cache
def make_targets() -> frozenset[str]:
    """The Makefile's targets."""
    return frozenset(re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(), flags=re.M))


@functools.cache
def help_text(argv: tuple[str, ...]) -> str:
    """``python -m ... --help``, which must succeed."""
    result = subprocess.run([sys.executable, "-m", *argv, "--help"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)  # fmt: skip
    assert result.returncode == 0, f"python -m {' '.join(argv)} --help failed: {result.stderr[-2000:]}"
    return result.stdout


@functools.cache
def printed_curl_lines() -> frozenset[str]:
    """What ``make up`` prints with default settings: no ``STACK_*``, ``SERVER_*`` or ``REDIS_*`` variable, no .env."""
    saved = {k: v for k, v in os.environ.items() if k.startswith(("STACK_", "SERVER_", "REDIS_"))}
    for key in saved:
        del os.environ[key]
    try:
        settings = StackSettings(_env_file=None)
    finally:
        os.environ.update(saved)
    return frozenset(line for line in curl_lines(settings) if line.startswith("curl "))


@functools.cache
def compose_file() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def problems(command: Command) -> list[str]:
    """Why a command would not run as written (nothing when it would)."""
    argv = command.argv
    if argv[0] == "curl":
        if command.text not in printed_curl_lines():
            return [f"{command.where}: not a line make up prints: {command.text}"]
        return []
    if argv[0] == "make":
        targets = [w for w in argv[1:] if not w.startswith("-") and not ASSIGNMENT.fullmatch(w)]
        return [f"{command.where}: no make target {t!r}" for t in targets or ["(none)"] if t not in make_targets()]
    if argv[0] == "docker":
        return compose_problems(command)
    return module_problems(command)


def module_problems(command: Command) -> list[str]:
    """``python -m MODULE [SUBCOMMAND] [--option ...]``: the module answers ``--help``, and so does the subcommand,
    with every option the command uses."""
    argv = command.argv
    if argv[1:2] != ("-m",) or len(argv) < 3:
        return [f"{command.where}: not a `python -m MODULE` command: {command.text}"]
    module, args = argv[2], argv[3:]
    text = help_text((module,))
    target = (module,)
    if args and not args[0].startswith("-") and re.search(rf"^\s+{re.escape(args[0])}\s", text, flags=re.M):
        target = (module, args[0])  # a subcommand the module's help lists
        text = help_text(target)
    options = [a.split("=")[0] for a in args if a.startswith("--")]
    return [f"{command.where}: `python -m {' '.join(target)}` has no option {o}" for o in options if o not in text]


def compose_problems(command: Command) -> list[str]:
    """``docker compose [--profile P ...] SUBCOMMAND [SERVICE ...]``: profiles and services of docker-compose.yml."""
    argv = command.argv
    if argv[1:2] != ("compose",):
        return [f"{command.where}: not a `docker compose` command: {command.text}"]
    services = compose_file()["services"]
    profiles = {p for s in services.values() for p in s.get("profiles", [])}
    found, words = [], list(argv[2:])
    while words and words[0].startswith("-"):
        option = words.pop(0)
        value = words.pop(0) if option in COMPOSE_VALUED_OPTIONS and words else None
        if option == "--profile" and value not in profiles:
            found.append(f"{command.where}: no compose profile {value!r}")
    if not words or words[0] not in COMPOSE_SUBCOMMANDS:
        return [*found, f"{command.where}: no compose subcommand in {command.text}"]
    if words[0] == "up":
        named = [w for w in words[1:] if not w.startswith("-")]
        found += [f"{command.where}: no compose service {s!r}" for s in named if s not in services]
    return found


def test_the_pages_show_commands_of_every_kind():
    kinds = {c.argv[0] for c in pages_commands()}
    assert {"make", "python", "docker", "curl"} <= kinds, kinds


@pytest.mark.parametrize("command", pages_commands(), ids=lambda c: c.text[:60])
def test_every_command_runs_as_written(command):
    assert problems(command) == []


def test_the_quick_start_shows_every_line_make_up_prints():
    shown = {c.text for c in commands(QUICKSTART) if c.argv[0] == "curl"}
    assert shown == printed_curl_lines()


def test_the_checks_can_fail():
    where = "a page:1"
    made_up = [
        "curl -s http://127.0.0.1:8001/api/v1/ml/async/nowhere",
        "make no-such-target",
        "python -m benchmark answer --no-such-option",
        "python -m benchmark --no-such-option",
        "docker compose --profile no-such-profile up",
        "docker compose up no-such-service",
        "docker compose no-such-subcommand",
    ]
    for text in made_up:
        assert problems(Command(where, text, tuple(shlex.split(text)))), text


def test_the_readme_is_short_and_keeps_its_answer_block():
    text = README.read_text()
    assert len(text.splitlines()) <= README_MAX_LINES
    assert text.count("<!-- answer:begin -->") == 1
    assert text.count("<!-- answer:end -->") == 1
    assert BLOCK.search(text), "python -m benchmark answer --publish could not rewrite the README's block"
