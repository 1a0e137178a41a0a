"""What strun and calpipe share: override parsing, logging, error reporting.

Only the standard library is imported here: `strun --help` must stay fast.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any


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


class VersionAction(argparse.Action):
    """--version: calpipe's version and every installed plugin distribution with its version."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="print calpipe's version and the installed plugins' and exit")

    def __call__(self, parser, namespace, values, option_string=None):
        print(version_text())
        parser.exit()


def version_text() -> str:
    from ... import __version__
    from ..registry import get_registry

    plugins = get_registry().plugin_names_by_distribution()
    lines = [f"calpipe {__version__}"]
    for (dist, version), names in sorted(plugins.items()):
        if dist != "calpipe":
            lines.append(f"  plugin {dist} {version} ({', '.join(names)})")
    lines.append(f"  built-in plugins: {', '.join(plugins.get(('calpipe', __version__), [])) or 'none'}")
    return "\n".join(lines)


def directory(text: str) -> Path:
    """argparse type for directory options: an empty value (`--refdata=`) is an error, not '.'."""
    import argparse

    if not text.strip():
        raise argparse.ArgumentTypeError("expected a directory, got an empty value")
    return Path(text)


def setup_logging(quiet: bool, verbose: bool, log_file: Path | None = None) -> None:
    """stderr at the level asked for; ``log_file`` gets calpipe's full log (DEBUG) whatever the level.

    Warnings outside a step (the runner logs those inside one, with the step) become log lines too.
    """
    from ..logs import handler

    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    handlers = [handler(sys.stderr, level)]
    if log_file is not None:
        handlers.append(handler(log_file, logging.DEBUG))
    # libraries stay at INFO in the file (numba's DEBUG records are thousands per compile)
    logging.basicConfig(level=min(level, logging.INFO), handlers=handlers, force=True)
    logging.getLogger("calpipe").setLevel(logging.DEBUG if log_file is not None else logging.NOTSET)
    logging.captureWarnings(True)


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
    except BrokenPipeError:  # the reader stopped early (`| head`): what it wanted, not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0
    except Exception as exc:
        if debug:
            traceback.print_exc()
        else:
            print(f"{prog}: internal error: {type(exc).__name__}: {exc} (rerun with --debug for the "
                  "traceback, and please report it)", file=sys.stderr)
        return 1
