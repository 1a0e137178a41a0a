"""nir detector model and reference builders: the figures of the README ("nir"), exact references, stable bytes."""

from __future__ import annotations

import numpy as np
import pytest

from calpipe.core.io import open_product, write_atomic
from calpipe.core.models.dqflags import DQ
from calpipe.instruments.nir import refs
from calpipe.instruments.nir.detector import DEFAULT_SEED, detector_maps, reference_border
from calpipe.instruments.nir.plugin import REFTYPES


@pytest.fixture(scope="module")
def maps():
    return detector_maps()


@pytest.fixture(scope="module")
def science(maps):
    """Light-sensitive, good pixels."""
    return ~reference_border() & (maps.dq == 0)


def test_maps_are_full_frame_read_only_and_cached(maps):
    for name in ("bias", "flat", "dark", "gain", "readnoise", "saturation", "full_well", "beta"):
        array = getattr(maps, name)
        assert array.shape == (2048, 2048), f"{name}: shape"
        assert array.dtype == np.float32, f"{name}: dtype"
        assert not array.flags.writeable, name
    assert maps.dq.dtype == np.uint32
    assert detector_maps() is maps
    assert detector_maps("NRCA1", DEFAULT_SEED + 1).bias[100, 100] != maps.bias[100, 100]


def test_figures_match_the_instrument_handbook(maps, science):
    assert maps.bias.min() >= 10000, "bias at least 10000 DN"
    assert maps.bias.max() <= 15000, "bias at most 15000 DN"
    # bias structure: amplifier blocks and odd/even columns differ
    amp_means = [np.median(maps.bias[8:-8, a * 512:(a + 1) * 512]) for a in range(4)]
    assert np.ptp(amp_means) > 100
    assert 0.020 <= np.std(maps.flat[science & (np.abs(maps.flat - 1) < 0.2)]) <= 0.035
    gain = maps.gain[science]
    assert np.median(gain) == pytest.approx(2.0, rel=0.05), "median gain"
    assert gain.std() / gain.mean() < 0.03, "gain scatter under 3 %"
    dark_e = (maps.dark * maps.gain)[science]
    assert dark_e.min() == pytest.approx(0.002, rel=1e-4), "minimum dark current"
    assert dark_e.max() == pytest.approx(0.03, rel=1e-4), "maximum dark current"
    assert np.median(dark_e) == pytest.approx(0.008, rel=0.05)
    cds_e = maps.readnoise * np.sqrt(2) * maps.gain
    assert np.median(cds_e[science]) == pytest.approx(14.0, rel=0.02)
    assert maps.saturation.min() >= 55000, "saturation at least 55000 DN"
    assert maps.saturation.max() <= 65000, "saturation at most 65000 DN"
    # nonlinearity: at the saturation threshold the deficit beta*Q is 5-6.5 %
    well = (maps.saturation - maps.bias).astype(np.float64)
    beta = maps.beta.astype(np.float64)
    q = (1 - np.sqrt(1 - 4 * beta * well)) / (2 * beta)
    deficit = (beta * q)[science]
    assert deficit.min() >= 0.05 - 1e-4, "deficit at least 5 %"
    assert deficit.max() <= 0.065 + 1e-4, "deficit at most 6.5 %"
    assert maps.photmjsr == pytest.approx(0.25), "PHOTMJSR"
    assert maps.pixar_sr == pytest.approx(2.2588e-14, rel=1e-4), "pixel area"


def test_bad_pixels_and_reference_border(maps):
    border = reference_border()
    assert (maps.dq[border] == DQ.REFERENCE_PIXEL).all()
    assert (maps.flat[border] == 1.0).all(), "reference border flat is 1"
    assert (maps.dark[border] == 0).all(), "reference border dark is 0"
    inner = maps.dq[~border]
    bad = (inner & (DQ.HOT | DQ.DEAD | DQ.LOW_QE)) != 0
    assert 0.003 < bad.mean() < 0.008
    hot, dead = (maps.dq & DQ.HOT) != 0, (maps.dq & DQ.DEAD) != 0
    assert ((maps.dq[hot | dead] & DQ.DO_NOT_USE) != 0).all()
    assert (maps.dq[(maps.dq & DQ.LOW_QE) != 0] == DQ.LOW_QE).all()
    assert (maps.dark[hot] * maps.gain[hot]).min() >= 0.5 * (1 - 1e-5)  # e-/s: clearly hot
    assert (maps.flat[dead] == 0).all()
    low_qe = (maps.dq & DQ.LOW_QE) != 0
    assert maps.flat[low_qe].max() < 0.8


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The nine reference files, written once."""
    out = tmp_path_factory.mktemp("nir_refs")
    return {name: write_atomic(model, out / name) for name, model in refs.build()}


def test_builder_makes_every_reftype_and_they_open(built):
    assert sorted(built) == sorted(f"nir_nrca1_{t}_0001.fits" for t in REFTYPES)
    for name, path in built.items():
        ref = open_product(path)
        reftype = name.split("_")[2]
        assert ref.meta.reftype == reftype
        assert (ref.meta.instrument.name, ref.meta.instrument.detector) == ("NIR", "NRCA1")
        assert ref.meta.pedigree == "SIMULATION", "pedigree"
        assert ref.meta.useafter == "2020-01-01T00:00:00", "useafter"
        assert ref.meta.date == "2020-01-01T00:00:00"
        if reftype == "photom":
            assert ref.meta.photometry.conversion_megajanskys == pytest.approx(0.25)
            assert ref.meta.photometry.pixelarea_steradians == pytest.approx(2.2588e-14, rel=1e-4)
            assert ref.data.shape == (1, 1), "fluxconv shape"
            assert ref.data[0, 0] == pytest.approx(0.25), "fluxconv value"
        elif reftype == "mask":
            assert ref.dq.shape == (2048, 2048)
        elif reftype == "linearity":
            assert ref.data.shape == (4, 2048, 2048)
        else:
            assert ref.data.shape == (2048, 2048)


def test_references_are_the_true_maps(built, maps):
    sat = open_product(built["nir_nrca1_saturation_0001.fits"])
    assert np.array_equal(sat.data, maps.saturation)
    flat = open_product(built["nir_nrca1_flat_0001.fits"])
    dead = (maps.dq & DQ.DEAD) != 0
    assert np.array_equal(flat.data, maps.flat)
    assert (flat.dq[dead] == DQ.NO_FLAT_FIELD | DQ.DO_NOT_USE).all(), "dead pixels flagged NO_FLAT_FIELD | DO_NOT_USE"
    assert (flat.dq[~dead] == 0).all(), "other pixels unflagged"


def test_linearity_coefficients_undo_the_nonlinearity(built, maps):
    coeffs = open_product(built["nir_nrca1_linearity_0001.fits"]).data[:, 500:510, 1000:1010].astype(np.float64)
    beta = maps.beta[500:510, 1000:1010].astype(np.float64)
    well = (maps.saturation - maps.bias)[500:510, 1000:1010]
    assert np.array_equal(coeffs[0], np.zeros_like(beta)), "linearity coefficient 0 is 0"
    assert np.array_equal(coeffs[1], np.ones_like(beta)), "linearity coefficient 1 is 1"
    for fraction in (0.1, 0.5, 0.9):  # the series inverse is good to 0.1 % below 90 % of the well
        measured = fraction * well
        q = (1 - np.sqrt(1 - 4 * beta * measured)) / (2 * beta)  # true charge giving this signal
        linear = sum(c * measured**k for k, c in enumerate(coeffs))
        assert np.abs(linear / q - 1).max() < 1e-3


def test_builds_give_identical_bytes(built, tmp_path):
    detector_maps.cache_clear()  # rebuild the maps from the seed, not from the cache
    again = {name: write_atomic(model, tmp_path / name) for name, model in refs.build()}
    for name, path in built.items():
        assert again[name].read_bytes() == path.read_bytes(), name
