"""Cost of the access policy on the embedded archive (SQLite): a decision, a token login, a password login.

Makes a fresh archive with P programs and one stored product per program, an account granted half
of the programs, and times in-process, interleaved: ``access.decide`` (one product, the account's
principal), ``access.authenticate`` by token and by password (argon2id, argon2-cffi's defaults),
and ``access.require`` (decision + audit row commit). Prints median and 95th percentile per call.
Prints figures; asserts nothing.

    python benchmarks/archive_access.py [--programs N] [--rounds N]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

from calpipe.archive import access
from calpipe.archive.access import Principal
from calpipe.archive.directory import Archive
from calpipe.archive.retrieve import get  # noqa: F401  (registers the "get" data path)
from calpipe.archive.tables import SANDBOX, Product

T0 = datetime(2030, 1, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programs", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        archive = Archive.init(Path(tmp) / "archive")
        with archive.db.write() as session:
            user = access.add_account(session, "user", "a long password", T0)
            for i in range(args.programs):
                access.add_program(session, Principal.local_operator(), f"P{i}", "pi", 12, T0)
                row = Product(obs_id=f"obs{i}", filename=f"obs{i}.fits", calib_level=2, proposal_id=f"P{i}",
                              sha256=f"{i:064x}", state=SANDBOX, made_at=T0)
                session.add(row)
                session.flush()
                access.stamp(session, row, T0)
                if i % 2:
                    access.grant(session, Principal.local_operator(), f"P{i}", "user", T0)
            token = access.new_token(session, user, T0)
            ids = [p.id for p in session.query(Product).all()]
        who = access.authenticate(archive.db, T0, token=token)
        names = ("decide", "require", "token login", "password login")
        timings: dict[str, list[float]] = {k: [] for k in names}
        for r in range(args.rounds):
            pid = ids[r % len(ids)]
            t = time.perf_counter()
            with archive.db.read() as session:
                access.decide(session, who, session.get(Product, pid), T0)
            timings["decide"].append(time.perf_counter() - t)
            t = time.perf_counter()
            with contextlib.suppress(access.Refused):  # half are refused: both cost the same
                access.require(archive.db, who, pid, T0, "get")
            timings["require"].append(time.perf_counter() - t)
            t = time.perf_counter()
            access.authenticate(archive.db, T0, token=token)
            timings["token login"].append(time.perf_counter() - t)
            if r < 40:
                t = time.perf_counter()
                access.authenticate(archive.db, T0, name="user", password="a long password")
                timings["password login"].append(time.perf_counter() - t)
        archive.close()
    print(f"{args.programs} programs, {args.rounds} rounds (SQLite, in-process)")
    for name, values in timings.items():
        values.sort()
        print(f"  {name:<15} median {statistics.median(values) * 1e3:7.2f} ms   "
              f"p95 {values[int(0.95 * (len(values) - 1))] * 1e3:7.2f} ms   ({len(values)} calls)")


if __name__ == "__main__":
    main()
