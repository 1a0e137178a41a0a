"""Reading products safely and writing them atomically.

Inputs are opened read-only and fully loaded (no memmap), so nothing calpipe
does can change an input file. Outputs are written to a temporary file in the
target directory and renamed into place: a crash leaves no half-written product.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

from .errors import InputDataError
from .params import did_you_mean

_FIX = "re-download or regenerate the file"


def open_product(path: Path, models: dict[str, type] | None = None, error=InputDataError) -> Any:
    """Open a calpipe FITS product as the model class named by its DATAMODL keyword."""
    from astropy.io import fits
    from astropy.utils.exceptions import AstropyUserWarning
    from stdatamodels.validate import ValidationWarning

    if models is None:
        from .registry import get_registry

        models = get_registry().models
    path = Path(path)
    if path.is_dir():
        raise error(f"{path}: is a directory, not a FITS product")
    if not path.is_file():
        raise error(f"{path}: file not found (check the path)")
    try:
        with warnings.catch_warnings():
            # astropy only warns about truncation, stdatamodels about values its schema
            # refuses (then silently drops them): both are bad input.
            warnings.simplefilter("error", AstropyUserWarning)
            warnings.simplefilter("error", ValidationWarning)
            with fits.open(path, memmap=False, lazy_load_hdus=False) as hdul:
                for hdu in hdul:
                    _ = hdu.data
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
                model = cls(hdul)
                model.validate()  # once, as a whole: models skip validation on assignment
                return model
    except KeyError as exc:  # stdatamodels: an HDU the ASDF tree points to is gone
        raise error(f"{path}: an HDU the product needs is missing ({exc.args[0] if exc.args else exc}); "
                    f"{_FIX}") from exc
    except (OSError, ValueError, TypeError, AstropyUserWarning, ValidationWarning) as exc:
        raise error(f"{path}: not a readable FITS product ({exc}); {_FIX}") from exc


def write_tree_atomic(tree: dict, path: Path, compress: tuple[str, ...] = ()) -> Path:
    """Write a plain ASDF tree (e.g. a simulator's truth) atomically; ``compress`` names top-level arrays."""
    import asdf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
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


def write_atomic(model: Any, path: Path) -> Path:
    """Write ``model`` to ``path`` as FITS via a temporary file and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.meta.filename = path.name
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; products get the usual permissions
    try:
        with os.fdopen(fd, "wb") as f:
            model.to_fits(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path
