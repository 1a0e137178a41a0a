"""Source lists carry units, descriptions and their pixel origin for any FITS table reader."""

from __future__ import annotations

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.table import QTable, Table

from calpipe.core.io import open_product, write_atomic
from calpipe.core.models.columns import BANDMERGE_COLUMNS, COLUMNS
from calpipe.core.models.products import BandMergedCatalogModel, MosaicModel, SourceCatalogModel

UNITS = {"ra": u.deg, "dec": u.deg, "x": u.pix, "y": u.pix, "x_err": u.pix, "y_err": u.pix,
         "flux_psf": u.mJy, "flux_psf_err": u.mJy, "flux_aper": u.mJy, "flux_aper_err": u.mJy,
         "flux_prior": u.mJy, "flux_prior_err": u.mJy, "flux_other": u.mJy, "flux_other_err": u.mJy, "flux_other_ulim": u.mJy}


def _table(model, seed: int):
    rng = np.random.default_rng(seed)
    table = np.zeros(7, dtype=model.get_dtype("sources"))
    for name in table.dtype.names:
        table[name] = rng.integers(0, 9, 7) if table.dtype[name].kind == "i" else rng.normal(size=7)
    return table


def _made(kind: str, seed: int, tmp_path):
    if kind == "mosaic":
        model = MosaicModel(data=np.zeros((4, 4), np.float32))
    else:
        model = BandMergedCatalogModel() if kind == "bandmerge" else SourceCatalogModel()
    model.meta.instrument.name = "IRAC"
    table = _table(model, seed)
    model.sources = table
    (model.meta.bandmerge if kind == "bandmerge" else model.meta.sources).flux_unit = "mJy"
    return write_atomic(model, tmp_path / f"{kind}.fits"), table


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("kind", ["catalog", "mosaic", "bandmerge"])
def test_table_and_qtable_read_units_and_values(kind, seed, tmp_path):
    path, table = _made(kind, seed, tmp_path)
    plain, quantities = Table.read(path, hdu="SOURCES"), QTable.read(path, hdu="SOURCES")
    for name in table.dtype.names:
        np.testing.assert_array_equal(np.asarray(plain[name]), table[name])  # values untouched
        if name in UNITS:
            assert plain[name].unit == UNITS[name], name
            assert quantities[name].unit == UNITS[name], name
            np.testing.assert_array_equal(quantities[name].to_value(UNITS[name]), table[name])
        else:
            assert plain[name].unit is None, name
    assert set(UNITS) & set(table.dtype.names)


@pytest.mark.parametrize("kind", ["catalog", "bandmerge"])
def test_every_column_is_described_and_the_pixel_origin_stated(kind, tmp_path):
    path, table = _made(kind, 3, tmp_path)
    header = fits.getheader(path, "SOURCES")
    notes = BANDMERGE_COLUMNS if kind == "bandmerge" else COLUMNS
    for i, name in enumerate(table.dtype.names, start=1):
        assert header[f"TTYPE{i}"] == name
        assert header[f"TCOMM{i}"] == notes[name][1], name
    if kind == "catalog":
        assert header["PIXORIGN"] == 0
        assert "0-based" in header.comments["PIXORIGN"]
        assert "FITS pixel = x + 1" in header["TCOMM4"]
    else:
        assert "PIXORIGN" not in header  # no pixel columns
        assert "no coverage" in header[f"TCOMM{table.dtype.names.index('flags') + 1}"]


def test_units_survive_a_read_and_rewrite(tmp_path):
    path, table = _made("catalog", 4, tmp_path)
    again = write_atomic(open_product(path), tmp_path / "again.fits")
    back = QTable.read(again, hdu="SOURCES")
    assert back["ra"].unit == u.deg
    assert back["flux_psf"].unit == u.mJy
    assert fits.getheader(again, "SOURCES")["TCOMM1"] == COLUMNS["id"][1]
    assert sum(1 for k in fits.getheader(again, "SOURCES") if k.startswith("TCOMM")) == len(table.dtype.names)
