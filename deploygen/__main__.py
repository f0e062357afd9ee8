"""``python -m deploygen``: write (or check, or print) every generated deployment file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from deploygen.files import generated_files, stale_files

ROOT = Path(__file__).resolve().parents[1]


def parser() -> argparse.ArgumentParser:
    """The command line."""
    cli = argparse.ArgumentParser(
        prog="python -m deploygen",
        description="Write every deployment file generated from the registry (system_launcher/registry.py) and "
        "the settings classes: docker-compose.yml, .env.example, lab.env.example, the Kubernetes overlays' "
        "commands.yaml, the base's settings.env, and the observability pack's scrape configuration and dashboard.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    action = cli.add_mutually_exclusive_group()
    action.add_argument("--check", action="store_true",
                        help="write nothing; list the files a fresh render would change; exit 1 if any")  # fmt: skip
    action.add_argument("--print", metavar="PATH", dest="print_path",
                        help="write nothing; print one generated file (e.g. docker-compose.yml) to stdout")  # fmt: skip
    cli.add_argument("--root", type=Path, default=ROOT, help="the repository root the files are written under")
    return cli


def main(argv: list[str] | None = None) -> int:
    """Write, check or print the generated files."""
    args = parser().parse_args(argv)
    files = generated_files()
    if args.print_path is not None:
        text = files.get(Path(args.print_path))
        if text is None:
            print(f"not a generated file: {args.print_path}; one of {', '.join(map(str, files))}", file=sys.stderr)
            return 2
        print(text, end="")
        return 0
    if args.check:
        stale = stale_files(args.root)
        for path in stale:
            print(f"stale: {path}", file=sys.stderr)
        if stale:
            print("run `make deploy-files`", file=sys.stderr)
        return 1 if stale else 0
    for path, text in files.items():
        (args.root / path).write_text(text)
        print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
