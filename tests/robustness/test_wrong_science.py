"""Issue 13, class 2 (silently wrong science): inputs that used to calibrate with exit 0 into a wrong
product are refused, naming the file and the key.

Duplicate step ids through imports (exit 2); reference files whose content is not their type's
(exit 4); truncated FITS, a DATAMODL contradicting DATALVL, SCI frames that are not what the header
or the detector says (exit 3); association members that are one file or the same bytes (exit 3).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from calpipe.core.cli.calpipe import main as calpipe
from calpipe.core.cli.strun import main as strun
from calpipe.core.errors import ConfigProblems, InputDataError, RefDataError
from calpipe.core.io import open_product, write_atomic
from calpipe.core.pipeline import resolve
from calpipe.core.refcheck import check_reference, content_problems
from calpipe.core.refs import OverrideResolver
from calpipe.core.registry import Registry, get_registry
from calpipe.core.runner import Runner

from ..core.test_association import PIPELINE as STACK_PIPELINE
from ..core.test_association import Plugin as StackPlugin

CLI_TIMEOUT = 180  # seconds


# -- duplicate step ids through imports ----------------------------------------------------------
def _importer(tmp_path: Path, imports: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(f"name: p\nversion: 1.0.0\ninstrument: nir\ninput: 2\noutput: 2\nimports:\n{imports}")
    return path


@pytest.mark.parametrize("imports", [
    # the reproduction: the flat was applied twice
    "  - {pipeline: nir_image2, exclude: [photom]}\n  - {pipeline: nir_image2, include: [flat_field]}\n",
    "  - {pipeline: nir_image2}\n  - {pipeline: nir_image2}\n",
    "  - {pipeline: nir_image2, include: [assign_wcs, flat_field]}\n  - {pipeline: generic_image2}\n",
])
def test_a_step_id_imported_twice_is_a_problem(tmp_path, imports):
    with pytest.raises(ConfigProblems, match=r"duplicate step id '(flat_field|assign_wcs)': imported by "
                                             r"imports\[0\] \(\w+\) and imports\[1\]"):
        resolve(str(_importer(tmp_path, imports)), get_registry())


def test_disjoint_imports_still_resolve_each_step_once(tmp_path):
    path = _importer(tmp_path, "  - {pipeline: nir_image2, exclude: [photom]}\n"
                               "  - {pipeline: nir_image2, include: [photom]}\n")
    assert [s.id for s in resolve(str(path), get_registry()).steps] == ["assign_wcs", "flat_field", "photom"]


# -- reference files: content, not only REFTYPE --------------------------------------------------
@pytest.fixture(scope="module")
def nir_refs(tmp_path_factory) -> dict[str, Path]:
    """The built-in nir reference files (NRCA1), written once for this module."""
    from calpipe.instruments.nir.refs import build

    out = tmp_path_factory.mktemp("nir_refs")
    return {ref.meta.reftype: write_atomic(ref, out / name) for name, ref in build()}


def _relabel(source: Path, target: Path, reftype: str, **keywords) -> Path:
    with fits.open(source) as hdul:
        hdul[0].header["REFTYPE"] = reftype
        for key, value in keywords.items():
            hdul["SCI"].header[key] = value
        hdul.writeto(target)
    return target


def test_every_built_in_reference_file_holds_what_its_type_declares(tmp_path):
    """92 files of 4 instruments: the declared ranges are wide enough for the real thing."""
    registry = get_registry()
    checked = 0
    for refset in registry.refsets():
        for name, ref in refset.build():
            instrument = ref.meta.instrument.name.lower()
            spec = registry.reftypes[(instrument, ref.meta.reftype)]
            assert spec.content is not None, f"{instrument}/{ref.meta.reftype} declares no content"
            path = write_atomic(ref, tmp_path / name)
            assert content_problems(path, open_product(path), spec.content,
                                    registry.instruments[instrument]) == [], name
            path.unlink()
            checked += 1
    assert checked >= 90


# a file of one type relabelled as another: each must be refused by content alone
_SWAPS = [("flat", "dark"), ("dark", "flat"), ("flat", "mask"), ("mask", "flat"), ("gain", "flat"),
          ("readnoise", "flat"), ("flat", "saturation"), ("superbias", "dark"), ("linearity", "gain"),
          ("photom", "flat"), ("flat", "photom"), ("flat", "linearity"), ("dark", "superbias")]


@pytest.mark.parametrize(("real", "label"), _SWAPS)
def test_refdata_add_refuses_a_file_relabelled_as_another_type(nir_refs, tmp_path, real, label, capsys):
    edited = _relabel(nir_refs[real], tmp_path / f"nir_{real}_as_{label}.fits", label)
    code = calpipe(["refdata", "--refdata", str(tmp_path / "store"), "add", str(edited)])
    assert code == 4
    err = capsys.readouterr().err
    assert f"{edited.name} does not hold a nir {label}" in err
    assert not (tmp_path / "store" / "staging.yaml").exists()


def test_a_relabelled_flat_is_refused_when_used_as_a_dark(nir_refs, tmp_path):
    """The reproduction at run time (--ref or a store file): the dark step never sees it."""
    edited = _relabel(nir_refs["flat"], tmp_path / "nir_flat_as_dark.fits", "dark")
    pipeline = tmp_path / "dark_only.yaml"
    pipeline.write_text("name: dark_only\nversion: 1.0.0\ninstrument: nir\ninput: 1\noutput: 1\n"
                        "steps:\n  - {id: dark_current, step: dark_current}\n")
    runner = Runner(resolve(str(pipeline), get_registry()), OverrideResolver({"dark": edited}), registry=get_registry())
    with pytest.raises(RefDataError, match=r"nir_flat_as_dark.fits \(sha256 [0-9a-f]{16}…\) does not hold "
                                           r"a nir dark: SCI median 1 is outside -0.5..0.5"):
        runner.load_refs(None)
    good = Runner(resolve(str(pipeline), get_registry()), OverrideResolver({"dark": nir_refs["dark"]}),
                  registry=get_registry())
    assert good.load_refs(None)["dark"].use.name == nir_refs["dark"].name


@pytest.mark.parametrize(("unit", "accepted"), [("DN/s", True), ("MJy/sr", False), ("DN", False)])
def test_a_declared_unit_must_be_the_types(nir_refs, tmp_path, unit, accepted):
    registry = get_registry()
    path = _relabel(nir_refs["dark"], tmp_path / "dark.fits", "dark", BUNIT=unit)
    problems = content_problems(path, open_product(path), registry.reftypes[("nir", "dark")].content,
                                registry.instruments["nir"])
    assert (problems == []) is accepted, problems


def test_a_reference_cut_to_a_subarray_is_refused(nir_refs, tmp_path):
    """References cover the detector's full frame (2048 x 2048): the runner cuts the subarray."""
    ref = open_product(nir_refs["dark"])
    ref.data = ref.data[:256, :256].copy()
    path = write_atomic(ref, tmp_path / "small_dark.fits")
    registry = get_registry()
    assert content_problems(path, open_product(path), registry.reftypes[("nir", "dark")].content,
                            registry.instruments["nir"]) == ["SCI has shape 256x256, not 2048x2048"]


def test_publish_rechecks_the_staged_files(nir_refs, tmp_path, capsys):
    """A staging list edited (or written by an older calpipe) to call a flat a dark is not published."""
    import yaml

    store = tmp_path / "store"
    assert calpipe(["refdata", "--refdata", str(store), "add", str(nir_refs["flat"])]) == 0
    staged = yaml.safe_load((store / "staging.yaml").read_text())
    staged[0]["reftype"] = "dark"
    (store / "staging.yaml").write_text(yaml.safe_dump(staged))
    capsys.readouterr()
    assert calpipe(["refdata", "--refdata", str(store), "publish", "--rationale", "test"]) == 4
    assert "does not hold a nir dark" in capsys.readouterr().err
    assert not (store / "contexts").exists() or not list((store / "contexts").iterdir())


_IRAC_SWAPS = [("dark", "flat"), ("flat", "linearity"), ("firstframe", "dark"), ("mask", "dark"),
               ("fluxconv", "flat"), ("flat", "firstframe"), ("linearity", "flat")]


@pytest.mark.parametrize("channel", [1, 2, 3, 4])
@pytest.mark.parametrize(("real", "label"), _IRAC_SWAPS)
def test_irac_files_relabelled_as_another_type_are_refused(tmp_path, channel, real, label):
    """Every channel (dark levels differ by 100x between them), frame-time types at 12 s."""
    from calpipe.instruments.irac.refs import FRAME_TIME_TYPES, build_one

    registry = get_registry()
    name, ref = build_one(channel, real, 12.0 if real in FRAME_TIME_TYPES else None)
    ref.meta.reftype = label
    path = write_atomic(ref, tmp_path / name)
    assert content_problems(path, open_product(path), registry.reftypes[("irac", label)].content,
                            registry.instruments["irac"]) != []


def test_an_integer_flat_is_refused(tmp_path):
    """A flat's values are floats; a mask's DQ is integers: the dtype is part of the content."""
    from calpipe.instruments.demo.refs import build

    registry = get_registry()
    flat = dict(build())["demo_flat_0001.fits"]
    path = write_atomic(flat, tmp_path / "flat.fits")
    with fits.open(path) as hdul:
        hdul["SCI"].data = np.round(hdul["SCI"].data).astype(np.int32)
        hdul.writeto(tmp_path / "int_flat.fits")
    with pytest.raises(RefDataError, match=r"int_flat.fits does not hold a demo flat: SCI is stored as "
                                           r"BITPIX = 32, not as floats"):
        check_reference(tmp_path / "int_flat.fits", open_product(tmp_path / "int_flat.fits", error=RefDataError),
                        "flat", registry.reftypes, registry.instruments)


# -- truncated FITS ------------------------------------------------------------------------------
def _boundaries(path: Path) -> list[int]:
    with fits.open(path) as hdul:
        return [hdu.fileinfo()["hdrLoc"] for hdu in hdul][1:]


def test_a_product_cut_at_every_hdu_boundary_is_refused(demo_session, ref_args, tmp_path, capsys):
    """`head -c` at an HDU boundary left a valid-looking FITS file: SCI alone, ERR/DQ made up."""
    data = demo_session.image.read_bytes()
    cuts = _boundaries(demo_session.image)
    assert len(cuts) >= 4  # SCI, ERR, DQ, ASDF
    for cut in cuts:
        path = tmp_path / f"cut{cut}_image.fits"
        path.write_bytes(data[:cut])
        assert strun(["generic_image2", str(path), *ref_args, "-o", str(tmp_path / "out"), "-q"]) == 3, cut
        err = capsys.readouterr().err
        assert path.name in err and ("no ASDF extension" in err or "not a readable FITS product" in err), err
    assert not (tmp_path / "out").exists()


def test_a_product_cut_inside_an_hdu_is_refused(demo_session, tmp_path):
    data = demo_session.image.read_bytes()
    rng = np.random.default_rng(13)
    for cut in rng.integers(2880, len(data) - 1, size=5):
        path = tmp_path / f"cut{cut}.fits"
        path.write_bytes(data[:cut])
        with pytest.raises(InputDataError, match=r"truncated|not a readable FITS product|no ASDF extension"):
            open_product(path)


@pytest.mark.parametrize("hdu", ["SCI", "ERR", "DQ"])
def test_a_product_missing_an_hdu_its_tree_points_to_is_refused(demo_session, tmp_path, hdu):
    """An HDU deleted from the middle (the ASDF extension still there): exit 3 naming it, not exit 1."""
    path = tmp_path / f"no_{hdu.lower()}.fits"
    with fits.open(demo_session.image) as hdul:
        del hdul[hdu]
        hdul.writeto(path)
    with pytest.raises(InputDataError, match=rf"no_{hdu.lower()}.fits: an HDU the product needs is missing "
                                             rf".*'{hdu}'"):
        open_product(path)


def test_truncated_rate_subprocess(demo_session, ref_args, tmp_path):
    """As the reproduction ran it: strun on a file cut after SCI; exit 3, nothing written."""
    cut = tmp_path / "x_rate.fits"
    cut.write_bytes(demo_session.image.read_bytes()[:_boundaries(demo_session.image)[1]])
    run = subprocess.run([sys.executable, "-m", "calpipe.core.cli.strun", "generic_image2", str(cut),
                          *ref_args, "-o", str(tmp_path / "out")], capture_output=True, text=True,
                         timeout=CLI_TIMEOUT)
    assert run.returncode == 3, run.stderr
    assert "x_rate.fits: no ASDF extension after HDU 1 (SCI)" in run.stderr
    assert not (tmp_path / "out").exists()


# -- DATAMODL and frames -------------------------------------------------------------------------
def _edit(source: Path, target: Path, primary: dict | None = None, crop=None) -> Path:
    with fits.open(source) as hdul:
        for key, value in (primary or {}).items():
            hdul[0].header[key] = value
        if crop is not None:
            hdul["SCI"].data = hdul["SCI"].data[crop].copy()
        hdul.writeto(target)
    return target


def test_a_datamodl_of_another_level_is_refused(demo_session, ref_args, tmp_path, capsys):
    """The reproduction: a rate (level 2) file calling itself a MosaicModel."""
    path = _edit(demo_session.image, tmp_path / "x_rate.fits", {"DATAMODL": "MosaicModel"})
    assert strun(["generic_image2", str(path), *ref_args, "-o", str(tmp_path / "out")]) == 3
    err = capsys.readouterr().err
    assert "x_rate.fits: DATAMODL = 'MosaicModel' is a level 3 product type, but DATALVL = 2" in err
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def nir_uncal(tmp_path_factory) -> Path:
    from calpipe.instruments.nir.simulate import simulate

    return simulate(tmp_path_factory.mktemp("nir_uncal"), subarray=32, ngroups=4, seed=5).raw


@pytest.fixture(scope="module")
def irac_raw(tmp_path_factory) -> Path:
    from calpipe.instruments.irac.simulate import simulate

    return simulate(tmp_path_factory.mktemp("irac_raw"), channel=1, seed=5)[0].raw


def _check(pipeline: str, path: Path) -> None:
    Runner(resolve(pipeline, get_registry()), registry=get_registry()).check_input(open_product(path), path.name)


@pytest.mark.parametrize(("crop", "message"), [
    ((Ellipsis, slice(0, 20), slice(0, 20)), "SCI is 20x20 pixels, but SUBSIZE1 = 32"),
    ((Ellipsis, slice(0, 32), slice(0, 31)), "SCI is 32x31 pixels, but SUBSIZE1 = 32"),
    ((Ellipsis, slice(0, 30), slice(None)), "SCI is 30x32 pixels, but SUBSIZE2 = 32"),
    ((Ellipsis, slice(0, 0), slice(None)), "SCI has shape (1, 4, 0, 32), no pixels"),
])
def test_an_uncal_cut_away_from_its_subarray_keywords_is_refused(nir_uncal, tmp_path, crop, message):
    path = _edit(nir_uncal, tmp_path / "cut_uncal.fits", crop=crop)
    with pytest.raises(InputDataError, match=f"cut_uncal.fits: {message}".replace("(", r"\(").replace(")", r"\)")):
        _check("nir_detector1", path)
    _check("nir_detector1", nir_uncal)  # the uncut file passes


def test_an_uncal_larger_than_the_detector_is_refused(nir_uncal, tmp_path):
    big = open_product(nir_uncal)
    big.data = np.zeros((1, 4, 32, 2100), np.uint16)
    big.meta.subarray.xsize = 2100
    path = write_atomic(big, tmp_path / "wide_uncal.fits")
    with pytest.raises(InputDataError, match=r"SCI frame is 32x2100 pixels, but nir DETECTOR = 'NRCA1' reads "
                                             r"at most 2048x2048"):
        _check("nir_detector1", path)


@pytest.mark.parametrize("side", [32, 128, 255])
def test_an_irac_raw_that_is_not_256_square_is_refused(irac_raw, tmp_path, side):
    """The reproduction (a 32x32 IRAC raw, exit 0), and other cuts, with SUBSIZE1/2 cut alike (the
    header agrees, the detector does not): exit 3 in a subprocess dry run."""
    path = _edit(irac_raw, tmp_path / f"SPITZER_I1_cut{side}_raw.fits", {"SUBSIZE1": side, "SUBSIZE2": side},
                 crop=(slice(0, side), slice(0, side)))
    run = subprocess.run([sys.executable, "-m", "calpipe.core.cli.strun", "irac_bcd", str(path), "--dry-run",
                          "-o", str(tmp_path / "out")], capture_output=True, text=True, timeout=CLI_TIMEOUT)
    assert run.returncode == 3, run.stderr
    assert f"SCI frame is {side}x{side} pixels, but irac DETECTOR = 'CH1' reads exactly 256x256" in run.stderr


def test_declared_frames_are_the_detector_models(tmp_path):
    """What the plugins declare is what their simulators and reference builders make."""
    from calpipe.instruments.irac.detector import detector_maps
    from calpipe.instruments.mips.detector import BANDS
    from calpipe.instruments.nir.detector import FULL

    instruments = get_registry().instruments
    assert instruments["nir"].frame("NRCA1") == (FULL, FULL)
    assert instruments["irac"].frame("CH2") == detector_maps(2, 0).flat.shape
    for band in BANDS.values():
        assert instruments["mips"].frame(band.detector) == band.shape


# -- association members: each frame once --------------------------------------------------------
@pytest.fixture
def stack(monkeypatch, demo_session, tmp_path):
    registry = Registry.load((StackPlugin(),))
    monkeypatch.setattr("calpipe.core.registry.get_registry", lambda: registry)
    pipeline = tmp_path / "stack.yaml"
    pipeline.write_text(STACK_PIPELINE.format(step="stack_mean"))

    def run(*inputs):
        return strun([str(pipeline), *map(str, inputs), "-o", str(tmp_path / "out"), "-q",
                      "--ref", f"mask={demo_session.mask}"])

    return run


@pytest.fixture
def frames(demo_session, tmp_path) -> list[Path]:
    """Two different frames of one observation, OBS_0001_0001_cal and OBS_0001_0002_cal."""
    obs = tmp_path / "obs"
    obs.mkdir()
    paths = []
    for k in (1, 2):
        image = open_product(demo_session.image)
        image.data = image.data + 100.0 * k
        paths.append(write_atomic(image, obs / f"OBS_0001_000{k}_cal.fits"))
    return paths


@pytest.mark.parametrize("how", ["symlink", "copy", "same_path_twice"])
def test_a_frame_listed_twice_is_refused(stack, frames, tmp_path, capsys, how):
    """The reproduction: NCOMBINE 3 from 2 frames, through a symlink or a byte-identical copy."""
    obs = frames[0].parent
    if how == "symlink":
        (obs / "OBS_0001_0003_cal.fits").symlink_to(frames[0].name)
        third = "OBS_0001_0003_cal.fits"
    elif how == "copy":
        shutil.copy(frames[0], obs / "OBS_0001_0003_cal.fits")
        third = "OBS_0001_0003_cal.fits"
    else:
        third = f"./{frames[0].name}"
    asn = obs / "asn.yaml"
    asn.write_text(f"name: OBS_0001\nmembers: [{frames[0].name}, {frames[1].name}, '{third}']\n")
    assert stack(asn) == 3
    err = capsys.readouterr().err
    assert ("same bytes" if how == "copy" else "are one file") in err
    assert frames[0].name in err
    assert not (tmp_path / "out").exists()


def test_a_byte_identical_loose_copy_is_refused(stack, frames, tmp_path, capsys):
    copy = frames[0].with_name("OBS_0001_0003_cal.fits")
    shutil.copy(frames[0], copy)
    assert stack(*frames, copy) == 3
    assert f"members {frames[0].name} and {copy.name} hold the same bytes" in capsys.readouterr().err


def test_distinct_frames_combine_to_their_mean(stack, frames, tmp_path):
    """Control: the two frames (offset by 100 and 200) stack to the mean of both, offset 150."""
    assert stack(*frames) == 0
    out = open_product(tmp_path / "out" / "OBS_0001_stack.fits")
    a, b = (open_product(f).data for f in frames)
    assert np.allclose(out.data, (a + b) / 2, rtol=0, atol=1e-4)
