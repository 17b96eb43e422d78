import numpy as np
import pytest

from course_utils.compression import compress_update, densify, dequantize, quantize, top_k


def random_update(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=7)]


# --- quantize / dequantize -------------------------------------------------------------------


def test_quantize_by_hand():
    # Between 0 and 3 with 2 bits there are 4 levels, 0, 1, 2, 3: step 1.
    ((codes, low, step),), size = quantize([np.array([0.0, 1.2, 2.6, 3.0])], bits=2)

    assert codes.tolist() == [0, 1, 3, 3]
    assert (low, step) == (0.0, 1.0)
    assert size == 1 + 8  # 4 entries of 2 bits = 1 byte, plus low and step as float32
    assert dequantize([(codes, low, step)])[0].tolist() == [0.0, 1.0, 3.0, 3.0]


@pytest.mark.parametrize("bits", [1, 2, 4, 8, 16])
def test_quantize_round_trip_error_is_at_most_half_a_step(bits):
    update = random_update()

    packed, _ = quantize(update, bits)
    restored = dequantize(packed, dtype=np.float64)

    for original, back, (_, _, step) in zip(update, restored, packed):
        assert back.shape == original.shape
        assert np.max(np.abs(back - original)) <= step / 2 * (1 + 1e-9)
        assert step == pytest.approx((original.max() - original.min()) / (2**bits - 1))


def test_quantize_keeps_the_minimum_and_maximum():
    (restored,) = dequantize(quantize([np.array([-2.0, 0.3, 5.0])], bits=4)[0], dtype=np.float64)

    assert restored[0] == -2.0
    assert restored[2] == pytest.approx(5.0)


@pytest.mark.parametrize(("bits", "expected"), [(8, 12 + 8 + 7 + 8), (16, 24 + 8 + 14 + 8), (4, 6 + 8 + 4 + 8)])
def test_quantize_counts_the_bytes_sent(bits, expected):
    # Arrays of 12 and 7 entries: bits / 8 bytes per entry (rounded up per array) + 8 bytes per array.
    _, size = quantize(random_update(), bits)

    assert size == expected


def test_quantize_uses_small_integer_codes():
    packed8, _ = quantize(random_update(), 8)
    packed16, _ = quantize(random_update(), 16)

    assert all(codes.dtype == np.uint8 and codes.max() == 255 for codes, _, _ in packed8)
    assert all(codes.dtype == np.uint16 and codes.max() == 65535 for codes, _, _ in packed16)


def test_quantize_of_a_constant_array_is_exact():
    packed, size = quantize([np.full((2, 2), 0.75)], bits=8)

    assert np.array_equal(dequantize(packed)[0], np.full((2, 2), 0.75, dtype=np.float32))
    assert size == 4 + 8


def test_dequantize_gives_float32_by_default():
    restored = dequantize(quantize(random_update(), 8)[0])

    assert [a.dtype for a in restored] == [np.float32, np.float32]


@pytest.mark.parametrize("bits", [0, 3, 12, 32, 8.5])
def test_quantize_rejects_unsupported_bits(bits):
    with pytest.raises(ValueError, match="bits"):
        quantize(random_update(), bits)


# --- top_k / densify -------------------------------------------------------------------------


def test_top_k_by_hand():
    ((indices, values, shape),), size = top_k([np.array([[0.1, -5.0, 0.3], [2.0, -0.2, 0.0]])], fraction=0.5)

    assert indices.tolist() == [1, 2, 3]  # |-5|, |0.3|, |2| are the 3 largest magnitudes of 6
    assert np.array_equal(values, np.array([-5.0, 0.3, 2.0], dtype=np.float32))
    assert shape == (2, 3)
    assert size == 3 * 8


def test_top_k_keeps_exactly_the_k_largest_magnitudes():
    update = random_update()

    packed, size = top_k(update, fraction=0.25)

    for original, (indices, values, _) in zip(update, packed):
        flat = original.ravel()
        k = round(0.25 * flat.size)
        assert len(indices) == len(values) == k
        assert set(indices.tolist()) == set(np.argsort(-np.abs(flat))[:k].tolist())
        assert np.array_equal(values, flat[indices].astype(np.float32))
    assert size == 8 * (3 + 2)  # round(0.25 * 12) = 3 and round(0.25 * 7) = 2 entries


def test_densify_puts_the_kept_entries_back_and_zeros_elsewhere():
    update = [np.array([[0.1, -5.0, 0.3], [2.0, -0.2, 0.0]])]

    (dense,) = densify(top_k(update, fraction=0.5)[0])

    assert dense.shape == (2, 3) and dense.dtype == np.float32
    assert np.array_equal(dense, np.array([[0.0, -5.0, 0.3], [2.0, 0.0, 0.0]], dtype=np.float32))


def test_top_k_with_fraction_one_keeps_everything():
    update = random_update()

    restored = densify(top_k(update, fraction=1.0)[0])

    for original, back in zip(update, restored):
        assert np.array_equal(back, original.astype(np.float32))


def test_top_k_keeps_at_least_one_entry_per_array():
    packed, size = top_k([np.array([1.0, -3.0, 2.0])], fraction=0.01)

    assert packed[0][0].tolist() == [1]
    assert size == 8


@pytest.mark.parametrize("fraction", [0, -0.5, 1.01, float("nan")])
def test_top_k_rejects_fraction_outside_zero_one(fraction):
    with pytest.raises(ValueError, match="fraction"):
        top_k(random_update(), fraction)


# --- compress_update -------------------------------------------------------------------------


def test_compress_update_none_sends_float32_at_4_bytes_per_entry():
    update = random_update()

    received, size = compress_update(update, "none")

    assert size == 4 * (12 + 7)
    for original, back in zip(update, received):
        assert back.dtype == np.float32
        assert np.array_equal(back, original.astype(np.float32))


def test_compress_update_quantize_is_dequantize_of_quantize():
    update = random_update()

    received, size = compress_update(update, "quantize", bits=4)
    packed, expected_size = quantize(update, 4)

    assert size == expected_size == 6 + 8 + 4 + 8
    for back, expected in zip(received, dequantize(packed)):
        assert np.array_equal(back, expected)


def test_compress_update_top_k_is_densify_of_top_k():
    update = random_update()

    received, size = compress_update(update, "top_k", fraction=0.5)

    assert size == 8 * (6 + 4)  # round(0.5 * 7) = 4 (round half to even)
    for back, expected in zip(received, densify(top_k(update, 0.5)[0])):
        assert np.array_equal(back, expected)


def test_compressed_updates_are_smaller_than_uncompressed():
    update = [np.random.default_rng(0).normal(size=1000)]

    sizes = {method: compress_update(update, method)[1] for method in ("none", "quantize", "top_k")}

    assert sizes == {"none": 4000, "quantize": 1008, "top_k": 800}


def test_compress_update_rejects_an_unknown_method():
    with pytest.raises(ValueError, match="method.*'gzip'"):
        compress_update(random_update(), "gzip")


def test_top_k_with_k_keeps_the_k_largest_magnitudes_of_the_whole_update():
    update = [np.array([0.1, -5.0, 0.3]), np.array([[2.0, -0.2], [0.0, 4.0]])]
    packed, size = top_k(update, k=3)
    restored = densify(packed)
    np.testing.assert_array_equal(restored[0], [0.0, -5.0, 0.0])
    np.testing.assert_array_equal(restored[1], [[2.0, 0.0], [0.0, 4.0]])
    assert size == 3 * 8


@pytest.mark.parametrize("k", [0, -1, 8])
def test_top_k_rejects_k_outside_the_update(k):
    update = [np.zeros(3), np.zeros((2, 2))]  # 7 entries
    with pytest.raises(ValueError, match=r"k must be in \[1, 7\]"):
        top_k(update, k=k)


def test_top_k_needs_exactly_one_of_fraction_and_k():
    with pytest.raises(ValueError, match="exactly one of fraction and k"):
        top_k([np.zeros(3)], fraction=0.5, k=1)
    with pytest.raises(ValueError, match="exactly one of fraction and k"):
        top_k([np.zeros(3)])


# --- stochastic rounding ---------------------------------------------------------------------


def test_stochastic_rounding_is_unbiased_over_seeds():
    # 2 bits between 0 and 3: levels 0, 1, 2, 3. 1.2 rounds to 1 (p=0.8) or 2 (p=0.2): mean 1.2.
    update = [np.array([0.0, 1.2, 2.6, 3.0])]
    draws = np.array([dequantize(quantize(update, 2, "stochastic", seed)[0], np.float64)[0] for seed in range(4000)])

    assert np.allclose(draws.mean(axis=0), update[0], atol=0.03)  # standard error about 0.007
    assert set(np.unique(draws[:, 1])) == {1.0, 2.0} and set(np.unique(draws[:, 2])) == {2.0, 3.0}
    assert np.all(draws[:, 0] == 0.0) and np.all(draws[:, 3] == 3.0)  # the ends are levels
    nearest = dequantize(quantize(update, 2)[0], np.float64)[0]
    assert nearest.tolist() == [0.0, 1.0, 3.0, 3.0]  # the same every time, off by 0.2 and 0.4 on average


def test_the_mean_of_many_stochastic_roundings_approaches_the_update_but_nearest_does_not():
    update = random_update()

    def error(restored):
        return max(float(np.abs(r - u).max()) for r, u in zip(restored, update))

    one = error(dequantize(quantize(update, 1)[0], np.float64))
    averaged = [np.mean([dequantize(quantize(update, 1, "stochastic", s)[0], np.float64)[i] for s in range(2000)],
                        axis=0)
                for i in range(len(update))]
    assert error(averaged) < one / 5


def test_stochastic_rounding_is_seeded():
    update = random_update()

    def codes(seed):
        return [c for c, _, _ in quantize(update, 4, "stochastic", seed)[0]]

    assert all(np.array_equal(a, b) for a, b in zip(codes(3), codes(3)))
    assert any(not np.array_equal(a, b) for a, b in zip(codes(3), codes(4)))


@pytest.mark.parametrize("bits", [1, 2, 4, 8, 16])
def test_stochastic_rounding_stays_within_one_step_and_sends_the_same_bytes(bits):
    update = random_update()
    packed, size = quantize(update, bits, "stochastic", seed=0)
    for original, back, (codes, _, step) in zip(update, dequantize(packed, np.float64), packed):
        assert np.max(np.abs(back - original)) <= step * (1 + 1e-9)
        assert codes.max() <= 2**bits - 1
    assert size == quantize(update, bits)[1]


@pytest.mark.parametrize("kwargs, error, words", [({"rounding": "up"}, ValueError, "rounding"),
                                                  ({"rounding": "stochastic", "seed": -1}, ValueError, "seed"),
                                                  ({"rounding": "stochastic", "seed": 1.5}, TypeError, "seed")])
def test_quantize_refuses_bad_rounding_arguments(kwargs, error, words):
    with pytest.raises(error, match=words):
        quantize(random_update(), 4, **kwargs)


def test_compress_update_passes_the_rounding_on():
    update = random_update()
    a, _ = compress_update(update, "quantize", bits=2, rounding="stochastic", seed=1)
    b, _ = compress_update(update, "quantize", bits=2, rounding="stochastic", seed=1)
    c, _ = compress_update(update, "quantize", bits=2)
    assert all(np.array_equal(x, y) for x, y in zip(a, b)) and any(not np.array_equal(x, y) for x, y in zip(a, c))


def test_compressed_fedavg_with_stochastic_rounding_repeats_and_differs_by_seed():
    from course_utils.compression import CompressedFedAvg
    from course_utils.strategy import FitRes

    current = [np.zeros((3, 4), np.float32), np.zeros(7, np.float32)]
    results = [FitRes(cid, [c + u for c, u in zip(current, random_update(cid))], 10, {}) for cid in range(3)]

    def run(seed):
        return CompressedFedAvg(bits=2, rounding="stochastic", seed=seed).aggregate_fit(1, results, [], current)[0]

    assert all(np.array_equal(x, y) for x, y in zip(run(0), run(0)))
    assert any(not np.array_equal(x, y) for x, y in zip(run(0), run(1)))
    with pytest.raises(ValueError, match="rounding"):
        CompressedFedAvg(rounding="floor")
