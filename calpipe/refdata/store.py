"""The reference store: files addressed by sha256, contexts written once, a staging list.

    <root>/files/<sha256>.fits     reference files, named by their content
    <root>/contexts/NNNN.yaml      published contexts (read-only, never rewritten)
    <root>/staging.yaml            files added but not yet published

The root is ``--refdata DIR``, else ``$CALPIPE_REFDATA``, else the user's data
directory. Every read of a reference file checks its hash. Built-in contexts
(made offline by the plugins' builders) have numbers below 1000, contexts
published locally 1000 and up, so the two histories never collide. Every change
of the store happens under an exclusive lock on ``<root>/.lock``.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from calpipe.core.errors import RefDataError, UsageError
from calpipe.core.io import clean_stale_parts, temp_prefix, write_text_atomic
from calpipe.core.limits import read_text, safe_yaml
from calpipe.core.provenance import sha256_file

from .context import Context, RefTypeRules
from .rules import Rule, ambiguities, parse_time

ENV_VAR = "CALPIPE_REFDATA"
FIRST_LOCAL = 1000  # built-in contexts are numbered below, local ones from here
_META_KEYS = {"INSTRUME": "instrument", "REFTYPE": "reftype", "USEAFTER": "useafter",
              "DESCRIP": "description", "AUTHOR": "author", "PEDIGREE": "pedigree"}


def default_root(explicit: Path | None = None) -> Path:
    if explicit is not None:
        return Path(explicit)
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    import platformdirs

    return Path(platformdirs.user_data_dir("calpipe")) / "refdata"


_CONTEXT_BYTES = 64 << 20  # a context lists every file once: far below this


def _store_error(exc: OSError, where: Path) -> RefDataError:
    if exc.errno == errno.ENOSPC:
        return RefDataError(f"no space left on {where} (free some space; the reference store is unchanged)")
    return RefDataError(f"{where}: cannot write to the reference store ({exc.strerror or exc}); "
                        "use a writable store (--refdata DIR)")


class Store:
    def __init__(self, root: Path):
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise UsageError(f"reference store {self.root}: exists and is not a directory "
                             f"(check --refdata or ${ENV_VAR})")
        self.files_dir = self.root / "files"
        self.contexts_dir = self.root / "contexts"
        self.staging_path = self.root / "staging.yaml"

    @contextlib.contextmanager
    def lock(self):
        """Exclusive lock of the whole store, across processes (concurrent runs, -j workers)."""
        import fcntl

        try:
            self.root.mkdir(parents=True, exist_ok=True)
            handle = open(self.root / ".lock", "w")  # noqa: SIM115 - closed by the with below
        except OSError as exc:
            raise _store_error(exc, self.root) from None
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- contexts ------------------------------------------------------------------
    def context_numbers(self) -> list[int]:
        if not self.contexts_dir.is_dir():
            return []
        return sorted(int(p.stem) for p in self.contexts_dir.glob("[0-9][0-9][0-9][0-9].yaml"))

    def context_path(self, number: int) -> Path:
        return self.contexts_dir / f"{number:04d}.yaml"

    def load(self, number: int) -> Context:
        path = self.context_path(number)
        if not path.is_file():
            known = ", ".join(str(n) for n in self.context_numbers()) or "none"
            raise RefDataError(f"{self.root}: no reference context {number} (published: {known}; "
                               "`calpipe refdata init` installs the built-in ones)")
        return Context.from_yaml(self._read_yaml(path, "reference context"), str(path))

    def _read_yaml(self, path: Path, what: str) -> Any:
        """A store document, or RefDataError naming the file: never a KeyError from a corrupt one."""
        try:
            return safe_yaml(read_text(path, _CONTEXT_BYTES, RefDataError, what), str(path), RefDataError)
        except (OSError, UnicodeDecodeError, RecursionError, yaml.YAMLError) as exc:
            raise RefDataError(f"{path}: corrupt {what} ({type(exc).__name__}: {exc}); restore it "
                               "from a backup") from None

    # -- size ----------------------------------------------------------------------
    def usage(self) -> dict[str, int]:
        """Bytes on disk: ``total``, and per instrument the files any context names (a file
        named under two instruments counts for both; unreferenced files only in the total)."""
        sizes = {p.stem: p.stat().st_size for p in self.files_dir.glob("*.fits")} \
            if self.files_dir.is_dir() else {}
        per: dict[str, set[str]] = {}
        for number in self.context_numbers():
            for (instrument, _), t in self.load(number).types.items():
                per.setdefault(instrument, set()).update(r.sha256 for r in t.rules)
        out = {"total": sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file()),
               "files": len(sizes)}
        out.update({i: sum(sizes.get(h, 0) for h in hashes) for i, hashes in sorted(per.items())})
        return out

    # -- files ---------------------------------------------------------------------
    def file_path(self, sha256: str) -> Path:
        return self.files_dir / f"{sha256}.fits"

    def verified(self, rule: Rule) -> Path:
        """The stored file of a rule, after checking that its bytes still hash to its address."""
        path = self.file_path(rule.sha256)
        if not path.is_file():
            raise RefDataError(f"{path}: reference file {rule.name} is missing from the store "
                               "(restore it; `calpipe refdata init --repair` rebuilds built-in ones)")
        actual = sha256_file(path)
        if actual != rule.sha256:
            raise RefDataError(f"{path}: reference file {rule.name} was modified (sha256 {actual[:16]}… "
                               f"instead of {rule.sha256[:16]}…); restore the original or publish a new "
                               "file in a new context")
        return path

    def add(self, path: Path, reftypes: dict[tuple[str, str], Any]) -> dict[str, Any]:
        """Copy a reference file into the store and stage it for the next local context."""
        entry = self.ingest(path, reftypes)
        with self.lock():
            staged = [s for s in self.staged() if s["sha256"] != entry["sha256"]] + [entry]
            self._write_yaml(self.staging_path, staged)
        return entry

    def unstage(self) -> list[dict[str, Any]]:
        """Forget the staged files (they stay in files/, unreferenced); returns them."""
        with self.lock():
            try:
                staged = self.staged()
            except RefDataError:  # a corrupt list is exactly what unstage is for
                staged = []
            self.staging_path.unlink(missing_ok=True)
        return staged

    def ingest(self, path: Path, reftypes: dict[tuple[str, str], Any]) -> dict[str, Any]:
        """Check a reference file (its header says what it is for), copy it in by hash; its entry."""
        from astropy.io import fits

        from calpipe.core.io import open_product

        path = Path(path)
        if not path.is_file():
            raise RefDataError(f"{path}: file not found")
        try:
            header = fits.getheader(path)
        except (OSError, ValueError) as exc:
            raise RefDataError(f"{path}: not a readable FITS file ({exc})") from exc
        entry: dict[str, Any] = {}
        for key, field in _META_KEYS.items():
            entry[field] = header.get(key)
        for key in ("INSTRUME", "REFTYPE", "USEAFTER"):
            if not entry[_META_KEYS[key]]:
                raise RefDataError(f"{path}: missing keyword {key} "
                                   "(every reference file says what it is for)")
        entry["instrument"] = str(entry["instrument"]).lower()
        spec = reftypes.get((entry["instrument"], entry["reftype"]))
        if spec is None:
            known = ", ".join(sorted(f"{i}/{t}" for i, t in reftypes)) or "none"
            raise RefDataError(f"{path}: no installed plugin defines reference type "
                               f"{entry['instrument']}/{entry['reftype']} (known: {known})")
        try:
            parse_time(entry["useafter"])
        except ValueError as exc:
            raise RefDataError(f"{path}: USEAFTER {exc}") from exc
        select = {}
        for key in spec.selectors:
            if key not in header:
                raise RefDataError(f"{path}: missing selection keyword {key} for "
                                   f"{entry['reftype']} (use '*' to match any value)")
            select[key] = str(header[key])
        model = open_product(path, error=RefDataError)  # readable as a product at all
        if model.meta.reftype != entry["reftype"]:
            raise RefDataError(f"{path}: REFTYPE {entry['reftype']} in the header but {model.meta.reftype} "
                               "in the model")
        _check_content(path, model, entry["reftype"], reftypes)
        entry.update(name=path.name, sha256=sha256_file(path), select=select)
        self.copy_in(path, entry["sha256"])
        return entry

    def copy_in(self, path: Path, sha256: str) -> None:
        """Copy ``path`` in under its address, atomically; a full disk leaves no temp file."""
        target = self.file_path(sha256)
        if target.is_file():
            return
        self.files_dir.mkdir(parents=True, exist_ok=True)
        tmp = None
        try:
            clean_stale_parts(self.files_dir)  # copies a killed process left
            fd, tmp = tempfile.mkstemp(prefix=temp_prefix(target.name), dir=self.files_dir, suffix=".part")
            os.close(fd)
            shutil.copyfile(path, tmp)
            os.chmod(tmp, 0o444)
            os.replace(tmp, target)
        except OSError as exc:
            raise _store_error(exc, self.files_dir) from None
        finally:
            if tmp is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)

    def staged(self) -> list[dict[str, Any]]:
        if not self.staging_path.is_file():
            return []
        staged = self._read_yaml(self.staging_path, "staging list") or []
        needed = {"instrument", "reftype", "name", "sha256"}
        if not isinstance(staged, list) or not all(isinstance(e, dict) and needed <= set(e) for e in staged):
            raise RefDataError(f"{self.staging_path}: corrupt staging list (not a list of staged files); "
                               "`calpipe refdata unstage` removes it, then add the files again")
        return staged

    def _write_yaml(self, path: Path, data: Any) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(path, lambda f: yaml.safe_dump(data, f, sort_keys=False))
        except OSError as exc:
            raise _store_error(exc, path.parent) from None

    # -- publishing ----------------------------------------------------------------
    def publish(self, rationale: str, author: str, reftypes: dict[tuple[str, str], Any]) -> Context:
        """Make the next local context: the latest one plus the staged files, after validating it all."""
        from calpipe.core.io import open_product

        with self.lock():
            staged = self.staged()
            if not staged:
                raise RefDataError(f"{self.root}: nothing staged to publish "
                                   "(`calpipe refdata add FILE...` first)")
            for entry in staged:  # staged by an older calpipe, or the store was changed since
                path = self.file_path(entry["sha256"])
                if path.is_file():
                    _check_content(path, open_product(path, error=RefDataError), entry["reftype"], reftypes,
                                   entry["name"], entry["sha256"])
            numbers = self.context_numbers()
            context = self.publish_entries(staged, rationale, author, reftypes,
                                           number=max([FIRST_LOCAL - 1, *numbers]) + 1,
                                           parent=numbers[-1] if numbers else None)
            self.staging_path.unlink()
        return context

    def publish_entries(self, staged: list[dict[str, Any]], rationale: str, author: str,
                        reftypes: dict[tuple[str, str], Any], number: int, parent: int | None,
                        builtin: bool = False) -> Context:
        """Write context ``number``: context ``parent`` plus ``staged``, if it all validates.

        The caller holds the store lock.
        """
        if not rationale.strip():
            raise RefDataError("a context needs a rationale saying why it exists (--rationale)")
        parent = self.load(parent) if parent is not None else None
        inherited = parent.types if parent else {}
        types = {k: RefTypeRules(t.selectors, list(t.rules)) for k, t in inherited.items()}
        for entry in staged:
            key = (entry["instrument"], entry["reftype"])
            selectors = tuple(reftypes[key].selectors)
            current = types.setdefault(key, RefTypeRules(selectors))
            if current.selectors != selectors:
                raise RefDataError(f"{entry['name']}: {key[0]}/{key[1]} is now selected by "
                                   f"{', '.join(selectors)}, not {', '.join(current.selectors)}; "
                                   "add new files for every rule of this type")
            rule = Rule(entry["sha256"], entry["name"], str(entry["useafter"]),
                        tuple((k, entry["select"][k]) for k in selectors))
            # a file with the same selection and use-after supersedes the old one
            current.rules = [r for r in current.rules
                             if (r.select, r.when) != (rule.select, rule.when)] + [rule]

        return self.write_context(number, parent, types, rationale, author, builtin)

    def write_context(self, number: int, parent: Context | None, types: dict[tuple[str, str], RefTypeRules],
                      rationale: str, author: str, builtin: bool = False) -> Context:
        """Validate ``types`` (no ambiguity, every file present and intact) and write context ``number``.

        The caller holds the store lock.
        """
        problems = []
        for (instrument, reftype), t in types.items():
            for a, b in ambiguities(t.rules):
                problems.append(f"{instrument}/{reftype}: {a.describe()} and {b.describe()} "
                                "could both be chosen for one observation")
            for rule in t.rules:  # each file was opened as its reftype when it was ingested
                try:
                    self.verified(rule)
                except RefDataError as exc:
                    problems.append(str(exc))
        if problems:
            raise RefDataError("context not published:\n  " + "\n  ".join(problems))

        parent_sha = (hashlib.sha256(self.context_path(parent.number).read_bytes()).hexdigest()
                      if parent else None)
        context = Context(number, parent.number if parent else None, parent_sha,
                          datetime.now(UTC).isoformat(timespec="seconds"), author, rationale.strip(),
                          builtin, types)
        self._write_once(self.context_path(number), context.to_yaml())
        return context

    def _write_once(self, path: Path, text: str) -> None:
        """Create ``path`` atomically; never overwrite (a hard link fails if it exists)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(text)
            os.chmod(tmp, 0o444)
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise RefDataError(f"{path}: context already exists (published concurrently?); "
                                   "published contexts are never replaced - retry") from None
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


def _check_content(path: Path, model: Any, reftype: str, reftypes: dict[tuple[str, str], Any],
                   name: str | None = None, sha256: str | None = None) -> None:
    """The file holds what its type declares (shape, dtype, units, values): REFTYPE alone is one edit."""
    from calpipe.core.refcheck import check_reference
    from calpipe.core.registry import get_registry

    check_reference(path, model, reftype, reftypes, get_registry().instruments, name, sha256)
