"""jump against hand-computed ratios and simulated ramps with injected jumps.

Ramps are simulated here frame by frame (Poisson charge, read noise per frame,
groups = means of ``nframes`` frames, ``groupgap`` frames dropped).
"""

import numpy as np
import pytest

from calpipe.core.errors import InputDataError, RefDataError
from calpipe.core.models.dqflags import DQ
from calpipe.core.models.products import RampModel, ReferenceFileModel
from calpipe.steps.jump.algorithm import detect_jumps, poisson_factor
from calpipe.steps.jump.step import JumpStep

TFRAME = 10.73677
GAIN, RN = 2.0, 5.0  # e-/DN; read noise of one frame, DN
JUMP = DQ.JUMP_DET


def simulate(rate, shape, ngroups, nframes, groupgap, seed, tframe=TFRAME, nints=1):
    """Noisy ramps (nints, ngroups, *shape) in DN, frame by frame, groups averaged on 'board'."""
    rng = np.random.default_rng(seed)
    out = np.empty((nints, ngroups, *shape), dtype=np.float32)
    lam = rate * GAIN * tframe
    for i in range(nints):
        charge = np.zeros(shape)
        for k in range(ngroups):
            total = np.zeros(shape)
            for _ in range(nframes):
                if lam > 0:
                    charge += rng.poisson(lam, shape)
                total += charge / GAIN + rng.normal(0.0, RN, shape)
            out[i, k] = total / nframes
            for _ in range(groupgap):
                if lam > 0:
                    charge += rng.poisson(lam, shape)
    return out


def sigma_e(rate, nframes, groupgap, tframe=TFRAME):
    """True standard deviation of one group difference, electrons."""
    counts = rate * GAIN * tframe * (nframes + groupgap)
    return np.sqrt(counts * poisson_factor(nframes, groupgap) + 2 * (RN * GAIN) ** 2 / nframes)


def run(data, gdq=None, gain=1.0, readnoise=1.0, nframes=1, groupgap=None, **kwargs):
    shape = data.shape[-2:]
    return detect_jumps(data, np.zeros(data.shape, np.uint8) if gdq is None else gdq,
                        np.full(shape, gain, np.float32), np.full(shape, readnoise, np.float32),
                        nframes, groupgap=groupgap, **kwargs)


def ramp_from_diffs(*diffs):
    """One pixel whose group differences are ``diffs`` (DN), shaped (1, ngroups, 1, 1)."""
    return np.concatenate([[0.0], np.cumsum(diffs)]).astype(np.float32).reshape(1, -1, 1, 1)


# -- the noise model ------------------------------------------------------------------------


@pytest.mark.parametrize(("nframes", "groupgap"), [(1, 0), (2, 0), (8, 2), (8, 12)])
def test_poisson_factor_matches_simulated_averaged_groups(nframes, groupgap):
    # Var/mean of the difference of two group means of Poisson frames.
    rng = np.random.default_rng(nframes * 100 + groupgap)
    lam, npix = 50.0, 200_000
    steps = rng.poisson(lam, (2 * (nframes + groupgap), npix)).cumsum(axis=0)
    g0 = steps[:nframes].mean(axis=0)
    g1 = steps[nframes + groupgap:2 * nframes + groupgap].mean(axis=0)
    diff = g1 - g0
    assert diff.var() / diff.mean() == pytest.approx(poisson_factor(nframes, groupgap), rel=0.02)


def test_poisson_factor_values():
    assert poisson_factor(1, 0) == 1.0
    assert poisson_factor(2, 0) == pytest.approx(0.75)
    assert poisson_factor(8, 2) == pytest.approx(1 - 63 / 240)
    assert poisson_factor(8, None) == 1.0  # read pattern unknown: plain count, conservative


# -- thresholds, by hand --------------------------------------------------------------------
# gain 1 DN/e, one frame per group, read noise 1/sqrt(2) DN: sigma^2 = |center| + 1.


RN_UNIT = 1 / np.sqrt(2)


@pytest.mark.parametrize(("jump", "flagged"), [(5.5, False), (6.5, True)])
def test_three_groups_use_the_three_group_threshold(jump, flagged):
    # 2 differences (0, b): center = the smaller |d| = 0, sigma = 1, ratio = b: above 4 and 5, but
    # only a jump above the 3-group threshold of 6.
    out = run(ramp_from_diffs(0.0, jump), readnoise=RN_UNIT)
    assert out[0, :, 0, 0].tolist() == [0, 0, JUMP if flagged else 0]


def test_three_group_threshold_is_a_parameter():
    out = run(ramp_from_diffs(0.0, 5.5), readnoise=RN_UNIT, three_group_threshold=5.0)
    assert out[0, 2, 0, 0] == JUMP


@pytest.mark.parametrize(("jump", "flagged"), [(4.5, False), (5.5, True)])
def test_four_groups_use_the_four_group_threshold(jump, flagged):
    # 3 differences (0, 0, b): center = median = 0, ratio = b
    out = run(ramp_from_diffs(0.0, 0.0, jump), readnoise=RN_UNIT)
    assert out[0, :, 0, 0].tolist() == [0, 0, 0, JUMP if flagged else 0]
    assert run(ramp_from_diffs(0.0, 0.0, 4.5), readnoise=RN_UNIT, four_group_threshold=4.4)[0, 3, 0, 0] == JUMP


@pytest.mark.parametrize(("b", "flagged"), [(500.0, False), (620.0, True)])
def test_five_or_more_groups_use_the_rejection_threshold(b, flagged):
    # 4 differences (0, 0, b, 0), read noise 100/sqrt(2): center = mean = b/4,
    # sigma^2 = b/4 + 100^2 (Poisson term + read noise), ratio = (3b/4) / sigma = 3.73 and 4.61.
    ratio = 0.75 * b / np.sqrt(b / 4 + 100**2)
    # so the 4-group threshold would never flag it
    assert (ratio > 4) == flagged, "flagged exactly when the ratio exceeds 4"
    assert ratio < 5, "ratio below the 4-group threshold 5"
    out = run(ramp_from_diffs(0.0, 0.0, b, 0.0), readnoise=100 * RN_UNIT)
    assert out[0, :, 0, 0].tolist() == [0, 0, 0, JUMP if flagged else 0, 0]


def test_iterates_until_no_difference_exceeds_the_threshold():
    # 10 groups, sigma_rn = 100 e: a 3000 e jump (ratio 25) and an 800 e jump. The 800 e one is ~6 sigma
    # once the first has been removed and the center recomputed.
    diffs = np.zeros(9)
    diffs[2], diffs[6] = 3000.0, 800.0
    out = run(ramp_from_diffs(*diffs), readnoise=100 * RN_UNIT)
    assert np.flatnonzero(out[0, :, 0, 0]).tolist() == [3, 7]


def test_unusable_groups_are_skipped_and_existing_flags_kept():
    diffs = np.zeros(9)
    diffs[6] = 5000.0  # inside the saturated part: not a jump
    data = ramp_from_diffs(*diffs)
    gdq = np.zeros(data.shape, np.uint8)
    gdq[0, 6:] = DQ.SATURATED
    gdq[0, 2] = JUMP  # from an earlier run: kept, its difference left out
    data[0, 2:] += 7000.0
    out = run(data, gdq, readnoise=100 * RN_UNIT)
    assert out[0, :, 0, 0].tolist() == [0, 0, JUMP, 0, 0, 0] + [DQ.SATURATED] * 4
    # input untouched
    assert gdq[0, 2, 0, 0] == JUMP, "jump flagged"
    assert gdq[0, 6, 0, 0] == DQ.SATURATED, "saturation kept"


def test_pixels_without_gain_or_readnoise_are_not_searched():
    data = np.concatenate([ramp_from_diffs(0, 0, 0, 500, 0, 0)] * 3, axis=3)
    out = detect_jumps(data, np.zeros(data.shape, np.uint8), np.array([[1.0, 0.0, 1.0]], np.float32),
                       np.array([[1.0, 1.0, np.nan]], np.float32), 1, flag_neighbors=False)
    assert out[0, 4, 0].tolist() == [JUMP, 0, 0]


def test_short_ramps_and_bad_shapes():
    assert not run(ramp_from_diffs(1000.0)).any()  # 2 groups: one difference, nothing to compare with
    with pytest.raises(ValueError, match=r"readnoise shape \(2, 2\) does not match the data's \(1, 1\)"):
        detect_jumps(ramp_from_diffs(1, 2), np.zeros((1, 3, 1, 1), np.uint8), np.ones((1, 1)),
                     np.ones((2, 2)), 1)


# -- neighbours ------------------------------------------------------------------------------


def neighbour_field(jump_e):
    """9x9 flat ramps (10 groups, sigma_rn = 10 e) with one jump of ``jump_e`` into group 4 at (4, 4)."""
    data = np.zeros((1, 10, 9, 9), np.float32)
    data[0, 4:, 4, 4] = jump_e
    return data


def ratio_of(jump_e):
    # center = b/9 (mean of 9 differences), sigma^2 = b/9 + 100, deviation 8b/9
    return (8 * jump_e / 9) / np.sqrt(jump_e / 9 + 100)


def test_big_jumps_flag_their_four_neighbours():
    assert 10 < ratio_of(600.0) < 200
    out = run(neighbour_field(600.0), readnoise=10 * RN_UNIT)
    flagged = np.argwhere(out & JUMP)
    assert sorted(map(tuple, flagged[:, 1:].tolist())) == [(4, 3, 4), (4, 4, 3), (4, 4, 4), (4, 4, 5), (4, 5, 4)]


@pytest.mark.parametrize("jump_e", [100.0, 30000.0])
def test_jumps_outside_the_neighbour_range_flag_only_themselves(jump_e):
    assert not 10 < ratio_of(jump_e) < 200, "jump outside the neighbour range"
    assert ratio_of(jump_e) > 4, "jump above the threshold"
    out = run(neighbour_field(jump_e), readnoise=10 * RN_UNIT)
    assert np.argwhere(out & JUMP).tolist() == [[0, 4, 4, 4]]


def test_neighbour_flagging_can_be_switched_off_and_spares_saturated_groups():
    data = neighbour_field(600.0)
    out = run(data, readnoise=10 * RN_UNIT, flag_neighbors=False)
    assert np.argwhere(out & JUMP).tolist() == [[0, 4, 4, 4]]
    gdq = np.zeros(data.shape, np.uint8)
    gdq[0, 4:, 3, 4] = DQ.SATURATED  # the neighbour above is saturated from group 4
    out = run(data, gdq, readnoise=10 * RN_UNIT)
    assert out[0, 4, 3, 4] == DQ.SATURATED, "saturated neighbour keeps SATURATED only"
    assert out[0, 4, 5, 4] == JUMP, "other neighbour flagged JUMP"
    # neighbours at the edge of the array: no wrap-around
    edge = np.zeros((1, 10, 3, 3), np.float32)
    edge[0, 4:, 0, 0] = 600.0
    out = run(edge, readnoise=10 * RN_UNIT)
    assert sorted(map(tuple, np.argwhere(out[0, 4] & JUMP).tolist())) == [(0, 0), (0, 1), (1, 0)]


# -- detection statistics on simulated ramps ---------------------------------------------------


@pytest.mark.parametrize(("pattern", "rate"), [((1, 0), 0.5), ((8, 2), 2.0)])
def test_completeness_for_jumps_above_10_sigma(pattern, rate):
    nframes, groupgap = pattern
    shape = (100, 1000)
    rng = np.random.default_rng(21)
    data = simulate(rate, shape, 10, nframes, groupgap, seed=22)
    where = rng.integers(1, 10, size=shape)  # the first group after the jump
    size = rng.uniform(10, 30, size=shape) * sigma_e(rate, nframes, groupgap) / GAIN  # DN
    data += np.where(np.arange(10)[None, :, None, None] >= where[None, None], size[None, None], 0)
    out = detect_jumps(data, np.zeros(data.shape, np.uint8), np.full(shape, GAIN, np.float32),
                       np.full(shape, RN, np.float32), nframes, groupgap=groupgap, flag_neighbors=False)
    found = np.take_along_axis(out[0], where[None], axis=0)[0] & JUMP
    assert found.astype(bool).mean() >= 0.95


def test_false_jumps_on_clean_read_noise_limited_ramps():
    # The hardest case: group differences of read noise are anti-correlated. 1e6 pixels x 10 groups
    # so that the count (~500 expected) is measured to ~5 % against the limit 10 x 6e-5 per pixel.
    shape = (1000, 1000)
    data = simulate(0.01, shape, 10, 1, 0, seed=23)
    out = detect_jumps(data, np.zeros(data.shape, np.uint8), np.full(shape, GAIN, np.float32),
                       np.full(shape, RN, np.float32), 1, groupgap=0)
    per_pixel = np.count_nonzero(out & JUMP) / data[0, 0].size
    assert per_pixel <= 10 * 6e-5


def test_false_jumps_on_clean_bright_averaged_ramps():
    # Poisson-dominated MEDIUM8: the averaged-frame Poisson term must not make sigma too small.
    shape = (100, 1000)
    data = simulate(20.0, shape, 10, 8, 2, seed=24)
    out = detect_jumps(data, np.zeros(data.shape, np.uint8), np.full(shape, GAIN, np.float32),
                       np.full(shape, RN, np.float32), 8, groupgap=2)
    per_pixel = np.count_nonzero(out & JUMP) / data[0, 0].size
    assert per_pixel <= 10 * 6e-5


# -- the step ----------------------------------------------------------------------------------


def reference(reftype, value, shape=(256, 256), filename=None):
    ref = ReferenceFileModel(data=np.full(shape, value, np.float32))
    ref.meta.reftype = reftype
    ref.meta.filename = filename or f"nir_{reftype}.fits"
    return ref


def ramp_product(data, nframes=1, groupgap=0):
    ramp = RampModel(data=data)
    ramp.groupdq = np.zeros(data.shape, np.uint8)
    ramp.meta.filename = "nir_002_ramp.fits"
    ramp.meta.subarray.xstart, ramp.meta.subarray.ystart = 11, 21
    ramp.meta.exposure.nframes, ramp.meta.exposure.groupgap = nframes, groupgap
    return ramp


def test_step_flags_jumps_in_the_subarray(tmp_path):
    data = neighbour_field(600.0)  # 600 DN: 1200 e at gain 2
    ramp = ramp_product(data)
    ramp.save(tmp_path / "ramp.fits")
    ramp = RampModel(tmp_path / "ramp.fits")  # big-endian arrays, as read from a file
    # read noise 10/sqrt(2)/2 DN (sigma_rn = 10 e) under the 9x9 subarray only
    rn = reference("readnoise", 1e4)
    rn.data[20:29, 10:19] = 10 * RN_UNIT / 2
    refs = {"gain": reference("gain", 2.0), "readnoise": rn}
    out = JumpStep().process(ramp, refs, JumpStep.Params())
    assert np.count_nonzero(out.groupdq & JUMP) == 5  # the jump and its 4 neighbours
    out = JumpStep().process(ramp_product(data), refs, JumpStep.Params(flag_4_neighbors=False))
    assert np.argwhere(out.groupdq & JUMP).tolist() == [[0, 4, 4, 4]]


def test_step_parameters_and_errors():
    with pytest.raises(ValueError, match="greater than 0"):
        JumpStep.Params(rejection_threshold=0)
    data = neighbour_field(600.0)
    refs = {"gain": reference("gain", 2.0), "readnoise": reference("readnoise", 5.0)}
    ramp = ramp_product(data)
    ramp.meta.exposure.nframes = None
    with pytest.raises(InputDataError, match=r"nir_002_ramp\.fits: missing NFRAMES"):
        JumpStep().process(ramp, refs, JumpStep.Params())
    # references are full frame: one smaller than the data is the reference's fault (a subarray
    # placed outside a full-frame reference is the input's, tests/robustness/test_exit_classes.py)
    small = dict(refs, readnoise=reference("readnoise", 5.0, shape=(8, 8), filename="small_rn.fits"))
    with pytest.raises(RefDataError, match=r"small_rn.fits: reference shape \(8, 8\) is smaller .* \(use a readnoise"):
        JumpStep().process(ramp_product(data), small, JumpStep.Params())


# -- version 1.1.0: the rounding of digitised groups -------------------------------------------


def read_noise_groups(npix, seed, ngroups=10, nframes=8):
    """Groups of pure read noise (MEDIUM8-like averaging), float and rounded to integers as uint16 raw."""
    rng = np.random.default_rng(seed)
    data = 1000.0 + rng.normal(0.0, RN / np.sqrt(nframes), (1, ngroups, 1, npix))
    return data.astype(np.float32), np.rint(data).astype(np.float32)


def false_rate(data, **options):
    ones = np.ones(data.shape[-2:], np.float32)
    gdq = detect_jumps(data, np.zeros(data.shape, np.uint8), GAIN * ones, RN * ones, 8, groupgap=2,
                       flag_neighbors=False, **options)
    return np.count_nonzero(gdq & JUMP) / data.shape[-1]


@pytest.mark.parametrize("seed", [41, 42, 43])
def test_quantum_restores_the_false_rate_of_unrounded_groups(seed):
    # 10^6 pixels: ~530 false jumps at 4 sigma (Poisson spread ~23); rounding the groups adds 1/12 DN^2
    # (2.7 % of a group's variance) and ~25 % more false jumps unless the threshold counts it
    exact, rounded = read_noise_groups(1_000_000, seed)
    reference = false_rate(exact)
    spread = 3 * np.sqrt(2 * reference * 1_000_000) / 1_000_000
    assert abs(false_rate(rounded, quantum=1.0) - reference) < spread
    assert false_rate(rounded) - reference > spread


def test_step_1_1_0_passes_quantum():
    from calpipe.steps.jump.step import JumpStepV1_1

    assert JumpStepV1_1.opt_in, "v1.1 is opt-in"
    assert JumpStepV1_1.Params().quantum == 1.0, "quantum default"
    with pytest.raises(ValueError, match="quantum must be >= 0"):
        false_rate(np.zeros((1, 5, 1, 4), np.float32), quantum=-1.0)
