"""A long-lived process that runs calpipe command lines in-process, one request per line.

The test harness starts it under a memory rlimit and feeds it hostile cases, so
hundreds of cases cost one interpreter start instead of one each. Requests and
answers are JSON lines on stdin and on a private copy of stdout; whatever a
case prints goes to buffers returned with its answer.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import time
import traceback


def _command(prog: str):
    if prog == "strun":
        from calpipe.core.cli.strun import main
    elif prog == "calpipe":
        from calpipe.core.cli.calpipe import main
    else:
        raise ValueError(f"unknown program {prog!r}")
    return main


def _serve() -> None:
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # stray C-level writes must not corrupt the protocol
    for name in ("strun", "calpipe"):
        _command(name)  # import once, before the first timed case
    answers.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        request = json.loads(line)
        out, err = io.StringIO(), io.StringIO()
        os.chdir(request["cwd"])
        os.environ.update(request.get("env", {}))
        start = time.perf_counter()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = _command(request["prog"])(request["argv"])
        except SystemExit as exc:  # argparse
            code = exc.code if isinstance(exc.code, int) else 2
        except BaseException:  # MemoryError, RecursionError... escaping main() is itself a finding
            err.write(traceback.format_exc())
            code = "escaped"
        answers.write(json.dumps({"code": code, "stdout": out.getvalue(), "stderr": err.getvalue(),
                                  "seconds": time.perf_counter() - start}) + "\n")


if __name__ == "__main__":
    _serve()
