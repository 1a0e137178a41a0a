"""ramp_fit against hand-computed values and simulated ramps with known truth.

Ramps are simulated here frame by frame (Poisson charge, read noise per frame,
groups = means of ``nframes`` frames, ``groupgap`` frames dropped), following the
timing conventions: frame j (1-based) is read at j·TFRAME.
"""

import numpy as np
import pytest

from calpipe.core.errors import InputDataError, RefDataError
from calpipe.core.models.dqflags import DQ
from calpipe.core.models.products import ImageModel, RampModel, ReferenceFileModel
from calpipe.steps.jump.algorithm import detect_jumps
from calpipe.steps.ramp_fit.algorithm import fit_ramps, slope_tables
from calpipe.steps.ramp_fit.step import RampFitStep

TFRAME = 10.73677  # full-frame frame time, s
PATTERNS = {"RAPID": (1, 0), "BRIGHT2": (2, 0), "SHALLOW4": (4, 1), "MEDIUM8": (8, 2), "DEEP8": (8, 12)}
GAIN, RN = 2.0, 5.0  # e-/DN; read noise of one frame, DN


def frame_numbers(k: int, nframes: int, groupgap: int) -> np.ndarray:
    """1-based frames averaged into group k."""
    first = k * (nframes + groupgap) + 1
    return np.arange(first, first + nframes)


def noiseless(rate, ngroups, nframes, groupgap, tframe=TFRAME, pedestal=0.0, nints=1):
    """Ramps (nints, ngroups, 1, npix) in DN: the mean of each group's noiseless frames."""
    rate = np.atleast_1d(np.asarray(rate, dtype=np.float64))
    groups = [pedestal + rate * tframe * frame_numbers(k, nframes, groupgap).mean() for k in range(ngroups)]
    ramp = np.stack(groups)[:, None, :]
    return np.repeat(ramp[None], nints, axis=0).astype(np.float32)


def simulate(rate, npix, ngroups, nframes, groupgap, tframe=TFRAME, nints=1, seed=0, readnoise=RN,
             poisson=True):
    """Noisy ramps (nints, ngroups, 1, npix) in DN made frame by frame and averaged on 'board'."""
    rng = np.random.default_rng(seed)
    out = np.empty((nints, ngroups, 1, npix), dtype=np.float32)
    lam = rate * GAIN * tframe  # electrons per frame
    for i in range(nints):
        charge = np.zeros(npix)
        for k in range(ngroups):
            total = np.zeros(npix)
            for _ in range(nframes):
                charge += rng.poisson(lam, npix) if poisson else lam
                total += charge / GAIN + rng.normal(0.0, readnoise, npix)
            out[i, k, 0] = total / nframes
            for _ in range(groupgap):
                charge += rng.poisson(lam, npix) if poisson else lam
    return out


def fit(data, gdq=None, pixeldq=None, gain=GAIN, readnoise=RN, nframes=1, groupgap=0, tframe=TFRAME):
    shape = data.shape[-2:]
    return fit_ramps(data, np.zeros(data.shape, np.uint8) if gdq is None else gdq, pixeldq,
                     np.full(shape, gain, np.float32), np.full(shape, readnoise, np.float32),
                     (nframes + groupgap) * tframe, nframes, groupgap)


# -- hand-computed values ------------------------------------------------------------------


def test_four_group_ramp_by_hand():
    # y = 0, 10, 20, 30 DN every 10 s: slope 1 DN/s. S/N = 60 e / sqrt(60 + 2*(2*5)^2) = 3.7 -> P = 0.
    # Unweighted fit: a_i = (i - 1.5)/5; F2 = sum a^2 = 12/(4^3 - 4) = 0.2; F1 = sum a_i a_j min(i,j) = 0.34.
    data = np.array([0, 10, 20, 30], np.float32).reshape(1, 4, 1, 1)
    out = fit_ramps(data, np.zeros(data.shape, np.uint8), None, np.full((1, 1), 2.0), np.full((1, 1), 5.0),
                    10.0, 1)
    var_r = 25 * 0.2 / 10**2           # 12 R^2 / ((n^3 - n) t^2) = 0.05
    var_p = 1.0 / (2.0 * 10.0) * 0.34  # rate / (g t) * F1 = 0.017
    assert out.slope[0, 0] == pytest.approx(1.0, rel=1e-6)
    assert out.var_rnoise[0, 0] == pytest.approx(var_r, rel=1e-6)
    assert out.var_poisson[0, 0] == pytest.approx(var_p, rel=1e-6)
    assert out.err[0, 0] == pytest.approx(np.sqrt(var_r + var_p), rel=1e-6)
    assert out.dq[0, 0] == 0
    assert out.slope.dtype == np.float32, "slope dtype"
    assert out.dq.dtype == np.uint32, "dq dtype"


def test_two_group_segment_with_averaged_frames_by_hand():
    # BRIGHT2 (2 frames, no gap): slope = 1000 DN / 10 s; n = 2 so a = (-1, 1), F1 = 1, F2 = 2.
    # var_r = (R^2/m) F2 / t^2 = 25/2 * 2 / 100; averaged frames lower the Poisson variance of the
    # difference by kappa F2, kappa = (m^2 - 1)/(6 m (m + gap)) = 1/8: var_p = 100/(2*10) * (1 - 2/8).
    data = np.array([0, 1000], np.float32).reshape(1, 2, 1, 1)
    out = fit_ramps(data, np.zeros(data.shape, np.uint8), None, np.full((1, 1), 2.0), np.full((1, 1), 5.0),
                    10.0, 2, groupgap=0)
    assert out.slope[0, 0] == pytest.approx(100.0, rel=1e-6)
    assert out.var_rnoise[0, 0] == pytest.approx(0.25, rel=1e-6)
    assert out.var_poisson[0, 0] == pytest.approx(3.75, rel=1e-6)


def test_tables_reduce_to_the_jwst_formulas():
    tables = slope_tables(10)
    for n in range(2, 11):
        # P = 0 (row 0) is the unweighted fit: F2 = 12/(n^3 - n), the classic random-walk F1
        assert tables.f2[0, n] == pytest.approx(12 / (n**3 - n), rel=1e-12)
        assert tables.f1[0, n] == pytest.approx(6 * (n * n + 1) / (5 * n * (n * n - 1)), rel=1e-12)
        # every weighting gives an unbiased slope per group interval
        a = tables.coef[:, n, :n]
        assert np.allclose(a.sum(axis=1), 0, atol=1e-12), "weights sum to 0"
        assert np.allclose(a @ np.arange(n), 1, atol=1e-12), "weights give slope 1 on a unit ramp"
    # P = 10 is nearly the end points: Poisson factor close to 1/(n - 1)
    assert tables.f1[5, 10] == pytest.approx(1 / 9, rel=0.05)


def test_integrations_are_combined_by_inverse_variance():
    # Integration 0: 10 good groups at 0.1 DN/s; integration 1 saturates from group 4 (4 groups at
    # 0.2 DN/s). Both at S/N < 5, so P = 0 and the hand formulas apply.
    t = 10.0
    data = np.zeros((2, 10, 1, 1), np.float32)
    data[0, :, 0, 0] = 0.1 * t * np.arange(10)
    data[1, :, 0, 0] = 0.2 * t * np.arange(10)
    gdq = np.zeros(data.shape, np.uint8)
    gdq[1, 4:] = DQ.SATURATED
    out = fit_ramps(data, gdq, None, np.full((1, 1), 2.0), np.full((1, 1), 5.0), t, 1)
    n = np.array([10, 4])
    s = np.array([0.1, 0.2])
    rate = np.sum((n**3 - n) * s) / np.sum(n**3 - n)           # common rate estimate
    var_r = 12 * 25 / ((n**3 - n) * t**2)
    var_p = rate / (2.0 * t) * 6 * (n**2 + 1) / (5 * n * (n**2 - 1))
    w = 1 / (var_r + var_p)
    assert out.slope[0, 0] == pytest.approx(np.sum(w * s) / w.sum(), rel=1e-5)
    assert out.var_rnoise[0, 0] == pytest.approx(np.sum(w**2 * var_r) / w.sum() ** 2, rel=1e-5)
    assert out.var_poisson[0, 0] == pytest.approx(np.sum(w**2 * var_p) / w.sum() ** 2, rel=1e-5)
    assert out.err[0, 0] ** 2 == pytest.approx(1 / w.sum(), rel=1e-5)
    assert out.dq[0, 0] == 0  # partial saturation alone does not flag the pixel


# -- noiseless ramps -----------------------------------------------------------------------


@pytest.mark.parametrize("pattern", sorted(PATTERNS))
def test_noiseless_slope_is_exact(pattern):
    nframes, groupgap = PATTERNS[pattern]
    rates = np.array([1.0, 7.3, 40.0, 600.0])  # S/N from ~10 to ~1e4: every weighting exponent
    data = noiseless(rates, 10, nframes, groupgap, pedestal=100.0, nints=2)
    out = fit(data, nframes=nframes, groupgap=groupgap)
    np.testing.assert_allclose(out.slope[0], rates, rtol=1e-6)
    assert np.all(out.dq == 0), "no pixel flagged"
    assert np.all(out.err > 0), "every error positive"


def test_noiseless_slope_is_exact_across_a_flagged_jump():
    data = noiseless([25.0, 25.0], 10, 8, 2)
    data[0, 6:, 0, 0] += 5000.0  # a jump before group 6 in the first pixel
    gdq = np.zeros(data.shape, np.uint8)
    gdq[0, 6, 0, 0] = DQ.JUMP_DET
    out = fit(data, gdq, nframes=8, groupgap=2)
    np.testing.assert_allclose(out.slope[0], [25.0, 25.0], rtol=1e-6)
    assert out.dq[0].tolist() == [DQ.JUMP_DET, 0]
    assert out.err[0, 0] > out.err[0, 1]  # two shorter segments know less than one long one


# -- saturation and unusable data ----------------------------------------------------------


def test_saturation_from_group_5_fits_groups_0_to_4_only():
    data = simulate(3.0, 2000, 10, 8, 2, seed=3)
    whole = data.copy()
    data[:, 5:] = 60000.0  # garbage after saturation
    gdq = np.zeros(data.shape, np.uint8)
    gdq[:, 5:] = DQ.SATURATED
    out = fit(data, gdq, nframes=8, groupgap=2)
    first5 = fit(np.ascontiguousarray(whole[:, :5]), nframes=8, groupgap=2)
    np.testing.assert_array_equal(out.slope, first5.slope)
    np.testing.assert_array_equal(out.err, first5.err)
    assert np.all(out.dq == 0)
    exact = fit(noiseless([3.0], 10, 8, 2), gdq[:, :, :, :1], nframes=8, groupgap=2)
    assert exact.slope[0, 0] == pytest.approx(3.0, rel=1e-6)


def test_pixels_without_a_two_group_segment_are_do_not_use_and_nan():
    data = noiseless(np.full(5, 10.0), 6, 1, 0)
    gdq = np.zeros(data.shape, np.uint8)
    gdq[0, 0:, 0, 0] = DQ.SATURATED      # saturated from group 0
    gdq[0, 1:, 0, 1] = DQ.SATURATED      # from group 1: one group left, not a measurement (documented)
    gdq[0, 2:, 0, 2] = DQ.SATURATED      # from group 2: a two-group segment
    gdq[0, :, 0, 3] = DQ.DO_NOT_USE      # every group unusable for another reason
    gdq[0, ::2, 0, 4] = DQ.DO_NOT_USE    # no two consecutive usable groups
    pixeldq = np.array([[DQ.HOT, 0, 0, 0, 0]], np.uint32)
    out = fit(data, gdq, pixeldq)
    sat_dnu = DQ.SATURATED | DQ.DO_NOT_USE
    assert out.dq[0].tolist() == [sat_dnu | DQ.HOT, sat_dnu, 0, DQ.DO_NOT_USE, DQ.DO_NOT_USE]
    for arr in (out.slope, out.err, out.var_poisson, out.var_rnoise):
        assert np.isnan(arr[0, [0, 1, 3, 4]]).all()
    assert out.slope[0, 2] == pytest.approx(10.0, rel=1e-6), "slope of the pixel"
    assert np.isfinite(out.err[0, 2]), "error finite"


def test_bad_gain_and_readnoise_are_flagged():
    data = noiseless([5.0, 5.0, 5.0], 5, 1, 0)
    shape = (1, 3)
    out = fit_ramps(data, np.zeros(data.shape, np.uint8), None, np.array([[2.0, 0.0, 2.0]], np.float32),
                    np.array([[5.0, 5.0, np.nan]], np.float32), TFRAME, 1)
    assert out.dq[0].tolist() == [0, DQ.NO_GAIN_VALUE | DQ.DO_NOT_USE, DQ.DO_NOT_USE]
    np.testing.assert_allclose(out.slope[0], [5.0] * 3, rtol=1e-6)  # still fitted
    assert out.var_poisson[0, 1] == 0, "zero Poisson variance"
    assert out.var_rnoise[0, 2] == 0, "zero read-noise variance"
    assert out.slope.shape == shape


def test_shape_mismatch_is_refused():
    data = np.zeros((1, 4, 2, 2), np.float32)
    with pytest.raises(ValueError, match=r"gain shape \(3, 3\) does not match the data's \(2, 2\)"):
        fit_ramps(data, np.zeros(data.shape, np.uint8), None, np.ones((3, 3)), np.ones((2, 2)), 10.0, 1)
    with pytest.raises(ValueError, match="group time must be positive"):
        fit_ramps(data, np.zeros(data.shape, np.uint8), None, np.ones((2, 2)), np.ones((2, 2)), 0.0, 1)


# -- noisy ramps: errors against the empirical scatter -------------------------------------

# (pattern, rate DN/s): bright is Poisson-dominated (S/N ~ 250, P = 10); faint is
# read-noise-dominated (S/N < 1, P = 0; read noise ~3/4 of the variance).
CASES = {"bright": ("MEDIUM8", 30.0), "faint": ("MEDIUM8", 0.002)}


def pulls(case, npix, seed, nints=1):
    pattern, rate = CASES[case]
    nframes, groupgap = PATTERNS[pattern]
    data = simulate(rate, npix, 10, nframes, groupgap, nints=nints, seed=seed)
    out = fit(data, nframes=nframes, groupgap=groupgap)
    return out, (out.slope.astype(np.float64) - rate) / out.err


@pytest.mark.parametrize("case", sorted(CASES))
def test_pull_std_100k_pixels(case):
    out, pull = pulls(case, 100_000, seed=12)
    assert abs(pull.std() - 1) < 0.05
    assert np.all(out.dq == 0)
    # the slope itself is unbiased (the pull mean is not exactly 0 because the Poisson
    # variance follows the pixel's own rate estimate)
    slope = out.slope.astype(np.float64)
    assert abs(slope.mean() - CASES[case][1]) < 4 * slope.std() / np.sqrt(slope.size)


def test_pull_std_two_integrations():
    _, pull = pulls("faint", 10_000, seed=13, nints=2)
    assert abs(pull.std() - 1) < 0.08


def test_var_poisson_matches_scatter_where_poisson_dominates():
    out, _ = pulls("bright", 20_000, seed=14)
    assert np.mean(out.var_rnoise) < 0.01 * np.mean(out.var_poisson)
    ratio = np.var(out.slope.astype(np.float64)) / np.mean(out.var_poisson)
    assert abs(ratio - 1) < 0.05


def test_var_rnoise_matches_scatter_of_read_noise_alone():
    # No charge at all: the scatter is read noise only, whatever VAR_POISSON says.
    nframes, groupgap = PATTERNS["SHALLOW4"]
    data = simulate(0.0, 20_000, 10, nframes, groupgap, seed=15)
    out = fit(data, nframes=nframes, groupgap=groupgap)
    ratio = np.var(out.slope.astype(np.float64)) / np.mean(out.var_rnoise)
    assert abs(ratio - 1) < 0.05
    # expected value, R^2/m averaged groups: 12 (R^2/4) / ((10^3 - 10) t^2)
    t = (nframes + groupgap) * TFRAME
    assert np.median(out.var_rnoise) == pytest.approx(12 * RN**2 / 4 / (990 * t**2), rel=1e-5)


# -- segments split at jumps ---------------------------------------------------------------


def test_known_jump_is_flagged_and_fitted_around():
    nframes, groupgap = PATTERNS["MEDIUM8"]
    rate = 1.0
    data = simulate(rate, 5000, 10, nframes, groupgap, seed=16)
    data[0, 5:] += 400.0  # 800 e-: ~20 sigma of a group difference
    gain = np.full(data.shape[-2:], GAIN, np.float32)
    rn = np.full(data.shape[-2:], RN, np.float32)
    gdq = detect_jumps(data, np.zeros(data.shape, np.uint8), gain, rn, nframes, groupgap=groupgap,
                       flag_neighbors=False)
    assert np.all(gdq[0, 5] & DQ.JUMP_DET)
    out = fit(data, gdq, nframes=nframes, groupgap=groupgap)
    pull = (out.slope.astype(np.float64) - rate) / out.err
    assert abs(pull.mean()) < 0.1, "pull mean near 0"
    assert abs(pull.std() - 1) < 0.08, "pull std near 1"
    assert np.all(out.dq & DQ.JUMP_DET)
    unflagged = fit(data, nframes=nframes, groupgap=groupgap)
    assert np.median(unflagged.slope) > rate + 0.3  # without the flag the jump would bias the slope


# -- the step -----------------------------------------------------------------------------


def reference(reftype, value, shape=(256, 256), filename=None):
    ref = ReferenceFileModel(data=np.full(shape, value, np.float32))
    ref.meta.reftype = reftype
    ref.meta.filename = filename or f"nir_{reftype}.fits"
    return ref


def ramp_product(data, xstart=101, ystart=51, **exposure):
    ramp = RampModel(data=data)
    ramp.groupdq = np.zeros(data.shape, np.uint8)
    ramp.pixeldq = np.zeros(data.shape[-2:], np.uint32)
    ramp.meta.filename = "nir_001_ramp.fits"
    ramp.meta.instrument.name = "NIR"
    ramp.meta.instrument.detector = "NRCA1"
    ramp.meta.observation.date_obs = "2030-01-01T00:00:00"
    ramp.meta.pointing.ra_ref = 10.5
    ramp.meta.subarray.name = "SUB32"
    ramp.meta.subarray.xstart, ramp.meta.subarray.ystart = xstart, ystart
    ramp.meta.subarray.xsize, ramp.meta.subarray.ysize = data.shape[-1], data.shape[-2]
    settings = {"readpatt": "MEDIUM8", "nints": data.shape[0], "ngroups": data.shape[1], "nframes": 8,
                "groupgap": 2, "frame_time": 1.0, "group_time": 10.0} | exposure
    for key, value in settings.items():
        setattr(ramp.meta.exposure, key, value)
    return ramp


def test_step_returns_a_rate_image_with_the_ramp_header(tmp_path):
    data = noiseless(np.full(32 * 24, 0.2), 6, 8, 2, tframe=1.0).reshape(1, 6, 24, 32)  # S/N < 5: P = 0
    ramp = ramp_product(data)
    ramp.groupdq[0, 3, 5, 7] = DQ.JUMP_DET
    ramp.pixeldq[2, 2] = DQ.HOT
    # read noise 5 DN under the subarray only: a wrong cutout would show in VAR_RNOISE
    rn = reference("readnoise", 1000.0)
    rn.data[50:74, 100:132] = 5.0
    image = RampFitStep().process(ramp, {"gain": reference("gain", 2.0), "readnoise": rn},
                                  RampFitStep.Params())
    assert isinstance(image, ImageModel), "rate image is an ImageModel"
    assert image.data.shape == (24, 32), "rate image shape"
    np.testing.assert_allclose(image.data, 0.2, rtol=1e-6)
    t = 10.0
    assert np.median(image.var_rnoise) == pytest.approx(12 * 25 / 8 / (210 * t * t), rel=1e-5)
    assert image.dq[5, 7] == DQ.JUMP_DET, "jump flag carried to the rate image"
    assert image.dq[2, 2] == DQ.HOT, "hot-pixel flag carried to the rate image"
    assert image.meta.data_level == 2
    assert image.meta.bunit_data == "DN/s", "data unit"
    assert image.meta.bunit_err == "DN/s", "error unit"
    assert image.meta.instrument.name == "NIR", "instrument name"
    assert image.meta.instrument.detector == "NRCA1", "detector"
    assert image.meta.exposure.readpatt == "MEDIUM8", "read pattern"
    assert image.meta.exposure.group_time == 10.0, "group time"
    assert image.meta.subarray.xstart == 101, "subarray xstart"
    assert image.meta.pointing.ra_ref == 10.5, "pointing ra_ref"
    assert image.meta.observation.date_obs == "2030-01-01T00:00:00"
    image.save(tmp_path / "rate.fits")  # valid against the image schema
    with ImageModel(tmp_path / "rate.fits") as back:
        assert back.var_poisson.dtype.name == "float32", "var_poisson dtype after round trip"
        assert back.meta.bunit_data == "DN/s", "data unit after round trip"


def test_step_derives_group_time_from_frame_time(tmp_path):
    data = noiseless(np.full(4, 4.0), 5, 8, 2, tframe=1.0).reshape(1, 5, 2, 2)
    ramp_product(data, group_time=None).save(tmp_path / "ramp.fits")
    ramp = RampModel(tmp_path / "ramp.fits")  # big-endian arrays, as read from a file
    refs = {"gain": reference("gain", 2.0), "readnoise": reference("readnoise", 5.0)}
    image = RampFitStep().process(ramp, refs, RampFitStep.Params())
    np.testing.assert_allclose(image.data, 4.0, rtol=1e-6)


def test_step_errors_name_the_file_and_the_fix():
    data = noiseless(np.full(4, 4.0), 5, 8, 2).reshape(1, 5, 2, 2)
    refs = {"gain": reference("gain", 2.0), "readnoise": reference("readnoise", 5.0)}
    with pytest.raises(InputDataError, match=r"nir_001_ramp\.fits: missing NFRAMES"):
        RampFitStep().process(ramp_product(data, nframes=None), refs, RampFitStep.Params())
    with pytest.raises(InputDataError, match="needs the time between groups"):
        RampFitStep().process(ramp_product(data, group_time=None, frame_time=None), refs, RampFitStep.Params())
    small = dict(refs, gain=reference("gain", 2.0, shape=(64, 64), filename="small_gain.fits"))
    # a subarray placed outside the full-frame reference: the input's SUBSTRT1/2 are wrong
    with pytest.raises(InputDataError, match=r"nir_001_ramp\.fits: SUBSTRT1=101, SUBSTRT2=51 place the 2x2"):
        RampFitStep().process(ramp_product(data), small, RampFitStep.Params())
    tiny = dict(refs, gain=reference("gain", 2.0, shape=(1, 1), filename="tiny_gain.fits"))
    with pytest.raises(RefDataError, match=r"tiny_gain.fits: reference shape \(1, 1\) is smaller .* \(use a gain"):
        RampFitStep().process(ramp_product(data), tiny, RampFitStep.Params())
    empty = ReferenceFileModel()
    empty.meta.reftype, empty.meta.filename = "readnoise", "empty_rn.fits"
    with pytest.raises(RefDataError, match=r"empty_rn\.fits: readnoise reference needs a 2-D SCI array"):
        RampFitStep().process(ramp_product(data), dict(refs, readnoise=empty), RampFitStep.Params())


# -- version 1.1.0: Poisson variance at the local median rate -----------------------------------

# (rate DN/s, what dominates): zero charge (the floor at 0 matters most), read-noise-dominated
# faint sky, the crossover, and Poisson-dominated bright sky.
SMOOTHED_RATES = (0.0, 0.002, 0.05, 30.0)


def smoothed_pulls(rate, seed, side=200, **options):
    nframes, groupgap = PATTERNS["MEDIUM8"]
    data = simulate(rate, side * side, 10, nframes, groupgap, seed=seed).reshape(1, 10, side, side)
    shape = data.shape[-2:]
    out = fit_ramps(data, np.zeros(data.shape, np.uint8), None, np.full(shape, GAIN, np.float32),
                    np.full(shape, RN, np.float32), (nframes + groupgap) * TFRAME, nframes, groupgap,
                    **options)
    return out, (out.slope.astype(np.float64) - rate) / out.err


@pytest.mark.parametrize("seed", [21, 22, 23])
@pytest.mark.parametrize("rate", SMOOTHED_RATES)
def test_smoothed_rate_pull_std_is_one(rate, seed):
    # 40,000 pixels: the pull std itself scatters by 1/sqrt(2 N) = 0.0035 over seeds
    _, pull = smoothed_pulls(rate, seed, rate_window=5)
    assert abs(pull.std() - 1) < 0.03


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(30, 40))
@pytest.mark.parametrize("rate", SMOOTHED_RATES)
def test_smoothed_rate_pull_std_is_one_on_ten_seeds(rate, seed):
    _, pull = smoothed_pulls(rate, seed, rate_window=5)
    assert abs(pull.std() - 1) < 0.03


def test_own_rate_variance_has_pulls_below_one_at_zero_charge():
    # the defect 1.1.0 removes: the pixel's own noisy rate, floored at 0, inflates ERR
    _, pull = smoothed_pulls(0.0, 24, rate_window=1)
    assert pull.std() < 0.93


def test_smoothed_rate_keeps_one_segment_slopes_and_read_noise():
    own, _ = smoothed_pulls(0.05, 25, side=64, rate_window=1)
    smooth, _ = smoothed_pulls(0.05, 25, side=64, rate_window=5)
    np.testing.assert_array_equal(smooth.slope, own.slope)
    np.testing.assert_allclose(smooth.var_rnoise, own.var_rnoise, rtol=1e-6)
    assert not np.array_equal(smooth.var_poisson, own.var_poisson)


def test_a_source_keeps_its_own_rate_for_the_poisson_variance():
    # a bright pixel in a faint field differs from its neighbours' median by far more than 3 sigma
    nframes, groupgap = PATTERNS["MEDIUM8"]
    rates = np.full((9, 9), 0.05)
    rates[4, 4] = 30.0
    data = noiseless(rates.ravel(), 10, nframes, groupgap).reshape(1, 10, 9, 9)
    out = fit(data, nframes=nframes, groupgap=groupgap)
    smooth = fit_ramps(data, np.zeros(data.shape, np.uint8), None, np.full((9, 9), GAIN, np.float32),
                       np.full((9, 9), RN, np.float32), (nframes + groupgap) * TFRAME, nframes, groupgap,
                       rate_window=5)
    assert smooth.var_poisson[4, 4] == pytest.approx(out.var_poisson[4, 4], rel=1e-6)
    # its neighbours take the faint median, not a share of the source
    assert smooth.var_poisson[4, 3] == pytest.approx(out.var_poisson[0, 0], rel=1e-6)


def test_multi_segment_pixels_are_recombined_with_the_smoothed_rate():
    nframes, groupgap = PATTERNS["MEDIUM8"]
    rate = 2.0
    data = noiseless(np.full(25, rate), 10, nframes, groupgap).reshape(1, 10, 5, 5)
    data[0, 6:, 2, 2] += 3000.0
    gdq = np.zeros(data.shape, np.uint8)
    gdq[0, 6, 2, 2] = DQ.JUMP_DET
    shape = (5, 5)
    out = fit_ramps(data, gdq, None, np.full(shape, GAIN, np.float32), np.full(shape, RN, np.float32),
                    (nframes + groupgap) * TFRAME, nframes, groupgap, rate_window=3)
    assert out.slope[2, 2] == pytest.approx(rate, rel=1e-6)
    assert out.dq[2, 2] == DQ.JUMP_DET
    assert out.err[2, 2] > out.err[2, 1]  # two segments know less than one


@pytest.mark.parametrize("window, clip", [(4, 3.0), (0, 3.0), (5, 0.0)])
def test_bad_smoothing_options_are_refused(window, clip):
    data = np.zeros((1, 4, 2, 2), np.float32)
    with pytest.raises(ValueError, match="rate_window must be odd and positive"):
        fit_ramps(data, np.zeros(data.shape, np.uint8), None, np.ones((2, 2)), np.ones((2, 2)), 10.0, 1,
                  rate_window=window, rate_clip=clip)


def test_step_1_1_0_passes_its_window_and_refuses_an_even_one():
    from pydantic import ValidationError

    from calpipe.steps.ramp_fit.step import RampFitStepV1_1

    assert RampFitStepV1_1.opt_in, "v1.1 is opt-in"
    assert not RampFitStep.opt_in, "v1.0 is not opt-in"
    with pytest.raises(ValidationError, match="must be odd"):
        RampFitStepV1_1.Params(rate_window=4)
    data = noiseless(np.full(32 * 24, 0.2), 6, 8, 2, tframe=1.0).reshape(1, 6, 24, 32)
    refs = {"gain": reference("gain", 2.0), "readnoise": reference("readnoise", 5.0)}
    image = RampFitStepV1_1().process(ramp_product(data), refs, RampFitStepV1_1.Params())
    np.testing.assert_allclose(image.data, 0.2, rtol=1e-6)
