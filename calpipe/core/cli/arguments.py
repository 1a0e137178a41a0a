"""What strun and calpipe share: override parsing, logging, error reporting.

Only the standard library is imported here: `strun --help` must stay fast.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

_LOG_FORMAT = "%(asctime)s %(levelname)-7s %(message)s"


def parse_value(text: str) -> Any:
    """Command-line values are YAML scalars: 4 -> int, 4.5 -> float, true -> bool, null -> None."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def split_assignment(text: str, option: str) -> tuple[str, str]:
    from ..errors import UsageError

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise UsageError(f"{option} expects KEY=VALUE, got '{text}'")
    return key, value


def build_overrides(config: str | None, sets: list[str], skips: list[str]):
    """--config, --set ID.PARAM=VALUE / --set NAME=VALUE (pipeline parameter) and --skip."""
    from ..pipeline import Overrides

    overrides = Overrides(config=Path(config) if config else None, skip=list(skips))
    for item in sets:
        key, value = split_assignment(item, "--set")
        step_id, dot, param = key.partition(".")
        if dot:
            overrides.step_params.setdefault(step_id, {})[param] = parse_value(value)
        else:
            overrides.parameters[key] = parse_value(value)
    return overrides


def extract_step_options(argv: list[str]) -> tuple[list[str], list[str]]:
    """Pull stpipe-style --steps.ID.PARAM=VALUE (or --steps.ID.PARAM VALUE) out of argv."""
    rest, sets = [], []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("--steps."):
            body = arg[len("--steps."):]
            if "=" not in body and i + 1 < len(argv):
                body = f"{body}={argv[i + 1]}"
                i += 1
            sets.append(body)
        else:
            rest.append(arg)
        i += 1
    return rest, sets


def positive_int(text: str) -> int:
    """argparse type for counts (frames, groups, seeds)."""
    import argparse

    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got '{text}'")
    return int(text)


def directory(text: str) -> Path:
    """argparse type for directory options: an empty value (`--refdata=`) is an error, not '.'."""
    import argparse

    if not text.strip():
        raise argparse.ArgumentTypeError("expected a directory, got an empty value")
    return Path(text)


def setup_logging(quiet: bool, verbose: bool) -> None:
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(level=level, format=_LOG_FORMAT, stream=sys.stderr, force=True)
    logging.captureWarnings(True)  # a library's warning becomes one log line, not a source listing


def guarded(prog: str, body: Callable[[list[str]], int], argv: list[str] | None) -> int:
    """Run a command; map errors to exit codes and one clear line (traceback with --debug)."""
    from ..errors import CalpipeError

    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    try:
        return body([a for a in argv if a != "--debug"])
    except CalpipeError as exc:
        if debug:
            traceback.print_exc()
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if debug:
            traceback.print_exc()
        else:
            print(f"{prog}: internal error: {type(exc).__name__}: {exc} (rerun with --debug for the "
                  "traceback, and please report it)", file=sys.stderr)
        return 1
