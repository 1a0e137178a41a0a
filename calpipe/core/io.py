"""Reading products safely and writing them atomically.

Inputs are opened read-only and fully loaded (no memmap), so nothing calpipe
does can change an input file; reference files from the store, content-addressed
and never rewritten, are memory-mapped (read-only) instead, so a subarray's run
reads only its section's pages of a full-frame reference. Outputs are written to a temporary file in the
target directory and renamed into place: a crash leaves no half-written product.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import CalpipeError, InputDataError, UsageError
from .fitscheck import StructureError, check_structure
from .params import did_you_mean

_FIX = "re-download or regenerate the file"


def open_product(path: Path, models: dict[str, type] | None = None, error=InputDataError,
                 memmap: bool = False) -> Any:
    """Open a calpipe FITS product as the model class named by its DATAMODL keyword.

    ``memmap=True`` maps the arrays read-only instead of reading them: for reference files,
    whose subarray users touch only their section's pages, and which no step may change.
    """
    import asdf
    from astropy.io import fits
    from astropy.io.fits.verify import VerifyError
    from astropy.utils.exceptions import AstropyUserWarning
    from stdatamodels.validate import ValidationWarning

    if models is None:
        from .registry import get_registry

        models = get_registry().models
    path = Path(path)
    try:
        check_structure(path)  # before astropy allocates anything the header claims
    except StructureError as exc:
        raise error(f"{path}: not a readable FITS product: {str(exc).removeprefix(f'{path}: ')}; {_FIX}"
                    ) from None
    except FileNotFoundError:
        raise error(f"{path}: file not found (check the path)") from None
    except OSError as exc:  # unreadable, a name too long, a directory without search permission
        raise error(f"{path}: cannot read ({exc.strerror or exc}); check the path and its permissions"
                    ) from None
    try:
        with warnings.catch_warnings():
            # astropy only warns about truncation, stdatamodels about values its schema
            # refuses (then silently drops them): both are bad input.
            warnings.simplefilter("error", AstropyUserWarning)
            warnings.simplefilter("error", ValidationWarning)
            with fits.open(path, memmap=memmap, mode="readonly", lazy_load_hdus=False) as hdul:
                _load_data(hdul, path)
                model_type = hdul[0].header.get("DATAMODL")
                if model_type is None:
                    raise error(f"{path}: missing keyword DATAMODL in the primary header "
                                "(not a calpipe product; simulate or convert it with calpipe first)")
                cls = models.get(model_type)
                if cls is None:
                    hint = did_you_mean(model_type, list(models)) or "install the plugin that defines it"
                    raise error(f"{path}: DATAMODL = '{model_type}' is not a known product type ({hint})")
                if "ASDF" not in hdul:  # written last: without it, arrays and keywords may be missing
                    raise error(f"{path}: no ASDF extension after HDU {len(hdul) - 1} ({hdul[-1].name}): "
                                f"the file is truncated, or was not written by calpipe; {_FIX}")
                try:
                    # asdf's own check of the tagged tree on read is a subset of model.validate(), which
                    # checks the whole tree against the product's schema (and the tags' schemas) once.
                    with asdf.config_context() as config:
                        config.validate_on_read = False
                        model = cls(hdul)
                    model.validate()  # once, as a whole: models skip validation on assignment
                except (MemoryError, RecursionError, CalpipeError, KeyError):
                    raise
                except Exception as exc:  # the structure checked out: what is left is the content
                    raise error(f"{path}: not a readable FITS product: not a valid {model_type} "
                                f"({type(exc).__name__}: {exc}); "
                                f"{_FIX}") from exc
                return model
    except KeyError as exc:  # stdatamodels: an HDU the ASDF tree points to is gone
        raise error(f"{path}: an HDU the product needs is missing ({exc.args[0] if exc.args else exc}); "
                    f"{_FIX}") from exc
    except (OSError, ValueError, TypeError, VerifyError, AstropyUserWarning, ValidationWarning) as exc:
        raise error(f"{path}: not a readable FITS product ({exc}); {_FIX}") from exc


_SCALED = ("BZERO", "BSCALE", "BLANK")


def _load_data(hdul: Any, path: Path) -> None:
    """Every HDU's data, read (or mapped); scaled integer planes (e.g. uint32 DQ) cannot be mapped: read."""
    from astropy.io import fits

    plain = None
    for index, hdu in enumerate(hdul):
        if hdul._file.memmap and any(k in hdu.header for k in _SCALED) and hdu.header.get("NAXIS"):
            if plain is None:
                plain = fits.open(path, memmap=False, mode="readonly")
            hdu.data = plain[index].data  # reads this HDU alone
        else:
            _ = hdu.data
    if plain is not None:
        plain.close()


def write_text_atomic(path: Path, write: Callable[[Any], None], newline: str | None = None) -> None:
    """Let ``write`` fill a text file that replaces ``path`` only when complete (temp file + rename).

    The temp file has our own name (``temp_prefix``) so a later run can clean it up after a kill;
    an OSError propagates with the temp file removed, for the caller to say what failed.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path.name), suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline=newline) as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_tree_atomic(tree: dict, path: Path, compress: tuple[str, ...] = ()) -> Path:
    """Write a plain ASDF tree (e.g. a simulator's truth) atomically; ``compress`` names top-level arrays."""
    import asdf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path.name), suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        with asdf.config_context() as config:
            config.validate_on_write = False  # plain dicts and arrays: nothing to validate, and it is slow
            af = asdf.AsdfFile(tree)
            for name in compress:
                af.set_array_compression(tree[name], "zlib")
            af.write_to(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def temp_prefix(name: str) -> str:
    """Hidden temp-file prefix naming the target and the writing process: .<name>.<pid>."""
    return f".{name}.{os.getpid()}."


_STALE = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[A-Za-z0-9_]+\.part$")


def clean_stale_parts(directory: Path) -> list[Path]:
    """Remove temp files of our own naming whose writing process is gone (a kill -9 left them).

    A live process's temp file is left alone, so concurrent runs into one directory are safe.
    """
    removed = []
    with contextlib.suppress(FileNotFoundError, NotADirectoryError, PermissionError):
        for entry in os.scandir(directory):
            m = _STALE.match(entry.name)
            if m and entry.is_file(follow_symlinks=False) and not _alive(int(m["pid"])):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def output_error(exc: OSError, directory: Path) -> UsageError:
    """An OSError while writing into ``directory``, as the clear message a user can act on."""
    if exc.errno == errno.ENOSPC:
        return UsageError(f"no space left on {directory} (free some space or choose another -o)")
    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        return UsageError(f"{directory}: cannot make the output directory, a file is in the way "
                          "(choose another -o)")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return UsageError(f"{directory}: not writable ({exc.strerror}); choose another -o")
    if exc.errno == errno.ENAMETOOLONG:
        return UsageError(f"{directory}: an output file name is too long ({exc.strerror}); rename the input")
    return UsageError(f"{directory}: cannot write ({exc.strerror or exc})")


def _os_cause(exc: BaseException | None) -> OSError | None:
    """The OSError behind a failed write, if any: astropy reports a short write without an errno,
    and can hide it behind an AttributeError of its own cleanup."""
    for _ in range(5):
        if exc is None:
            return None
        if isinstance(exc, OSError):
            if exc.errno is None and " written" in str(exc):  # "16384 requested and 6160 written"
                return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return exc
        exc = exc.__context__
    return None


def write_atomic(model: Any, path: Path) -> Path:
    """Write ``model`` to ``path`` as FITS via a temporary file and an atomic rename.

    An OSError (full disk, read-only or missing directory) leaves no temp file and
    becomes a UsageError saying which directory and why.
    """
    import asdf

    path = Path(path)
    model.meta.filename = path.name
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path.name), suffix=".part", dir=path.parent)
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; products get the usual permissions
        with os.fdopen(fd, "wb") as f, asdf.config_context() as config:
            # stdatamodels writes the FITS part by walking the product's schema, which validates the
            # tree as it goes (a bad value is refused); asdf checking the same tree again, tag by tag,
            # as it serialises the ASDF extension only repeats that check.
            config.validate_on_write = False
            model.to_fits(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        cause = _os_cause(exc)
        if cause is not None:
            raise output_error(cause, path.parent) from exc
        raise
    return path
