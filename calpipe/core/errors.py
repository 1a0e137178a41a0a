"""Error classes whose exit code tells the class of failure (DESIGN.md).

Every message names the file, the key and the fix; the CLI prints the message
alone and shows a traceback only with --debug.
"""

from __future__ import annotations


class CalpipeError(Exception):
    """Base class; `exit_code` is what the command line returns."""

    exit_code = 1


class UsageError(CalpipeError):
    """Bad command line, configuration or pipeline definition (exit 2)."""

    exit_code = 2


class InputDataError(CalpipeError):
    """An input product is missing, unreadable, or not what the pipeline needs (exit 3)."""

    exit_code = 3


class RefDataError(CalpipeError):
    """A reference file is missing, tampered with, or unfit for the data (exit 4)."""

    exit_code = 4


class RegistryError(CalpipeError):
    """Plugins conflict or are broken: an installation problem, not a user one (exit 1)."""


class StepFailedError(CalpipeError):
    """A step raised while processing one input; keeps the exit code of its cause."""

    def __init__(self, step_id: str, input_name: str, cause: BaseException):
        self.step_id = step_id
        self.input_name = input_name
        self.cause = cause
        if isinstance(cause, CalpipeError):
            self.exit_code = cause.exit_code
        super().__init__(
            f"step '{step_id}' failed on {input_name}: {type(cause).__name__}: {cause}"
            " (its output was not written)"
        )


class Problem:
    """One finding in a configuration file, located by file and line."""

    __slots__ = ("file", "hint", "line", "message")

    def __init__(self, file: str, line: int | None, message: str, hint: str | None = None):
        self.file = file
        self.line = line
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        text = f"{where}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text


class ConfigProblems(UsageError):
    """All problems found in one or more configuration files, reported together."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{len(problems)} problem(s) found before any data was read:\n{lines}")
