import numpy as np
import pytest

from course_utils.partition import dirichlet, iid, label_distribution, quantity_skew, shards

NUM_CLIENTS = 5

# Every partitioner, called as split(labels, num_clients, seed) so they can be tested alike.
PARTITIONERS = {
    "iid": lambda labels, n, seed: iid(labels.size, n, seed=seed),
    "dirichlet": lambda labels, n, seed: dirichlet(labels, n, alpha=0.5, seed=seed),
    "shards": lambda labels, n, seed: shards(labels, n, shards_per_client=2, seed=seed),
    "quantity_skew": lambda labels, n, seed: quantity_skew(labels.size, n, alpha=1.0, seed=seed),
}


def mean_max_class_share(labels, partitions):
    """Per client, the share of its most common label; averaged over clients (1.0 = one label each)."""
    counts = label_distribution(labels, partitions)
    return float(np.mean(counts.max(axis=1) / counts.sum(axis=1)))


@pytest.mark.parametrize("name", PARTITIONERS)
def test_partition_is_disjoint_int_arrays_covering_every_example_once(name, sorted_labels):
    parts = PARTITIONERS[name](sorted_labels, NUM_CLIENTS, 0)

    assert len(parts) == NUM_CLIENTS
    for part in parts:
        assert isinstance(part, np.ndarray)
        assert part.dtype == np.int64
        assert part.ndim == 1
        assert part.size >= 1
    assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(sorted_labels.size))


@pytest.mark.parametrize("name", PARTITIONERS)
def test_same_seed_gives_identical_split(name, sorted_labels):
    first = PARTITIONERS[name](sorted_labels, NUM_CLIENTS, 7)
    second = PARTITIONERS[name](sorted_labels, NUM_CLIENTS, 7)

    for a, b in zip(first, second, strict=True):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("name", PARTITIONERS)
def test_different_seed_gives_different_split(name, sorted_labels):
    first = PARTITIONERS[name](sorted_labels, NUM_CLIENTS, 0)
    second = PARTITIONERS[name](sorted_labels, NUM_CLIENTS, 1)

    assert any(not np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def test_iid_sizes_differ_by_at_most_one():
    sizes = [part.size for part in iid(23, 5, seed=0)]

    assert sum(sizes) == 23
    assert max(sizes) - min(sizes) <= 1


def test_dirichlet_small_alpha_is_more_skewed_than_large_alpha(sorted_labels):
    skewed = dirichlet(sorted_labels, NUM_CLIENTS, alpha=0.1, seed=0)
    near_iid = dirichlet(sorted_labels, NUM_CLIENTS, alpha=100.0, seed=0)

    # With 10 balanced classes an IID client's largest class holds about 10% of its examples.
    assert mean_max_class_share(sorted_labels, near_iid) < 0.15
    assert mean_max_class_share(sorted_labels, skewed) > 0.3
    assert mean_max_class_share(sorted_labels, skewed) > 2 * mean_max_class_share(sorted_labels, near_iid)


def test_dirichlet_gives_every_client_at_least_min_size(sorted_labels):
    parts = dirichlet(sorted_labels, 10, alpha=0.1, seed=0, min_size=5)

    assert min(part.size for part in parts) >= 5


def test_shards_with_two_per_client_give_at_most_two_labels_on_sorted_data(sorted_labels):
    # 200 sorted labels, 10 clients x 2 shards = 20 shards of 10: every shard holds one label.
    parts = shards(sorted_labels, 10, shards_per_client=2, seed=0)
    labels_per_client = (label_distribution(sorted_labels, parts) > 0).sum(axis=1)

    assert np.all(labels_per_client <= 2)


def test_shards_with_two_per_client_give_at_most_two_labels_for_most_clients_on_uneven_data():
    # 7 classes of uneven sizes: a shard can straddle two labels, but most clients still see at most two.
    labels = np.repeat(np.arange(7), [31, 17, 40, 25, 12, 38, 27])
    parts = shards(labels, 10, shards_per_client=2, seed=0)
    labels_per_client = (label_distribution(labels, parts) > 0).sum(axis=1)

    assert np.mean(labels_per_client <= 2) >= 0.5


def test_quantity_skew_small_alpha_gives_more_unequal_sizes():
    unequal = [part.size for part in quantity_skew(1000, 10, alpha=0.1, seed=0)]
    equal = [part.size for part in quantity_skew(1000, 10, alpha=1000.0, seed=0)]

    assert np.std(unequal) > 5 * np.std(equal)


def test_label_distribution_row_sums_equal_partition_sizes(sorted_labels):
    parts = dirichlet(sorted_labels, NUM_CLIENTS, alpha=0.5, seed=3)
    counts = label_distribution(sorted_labels, parts)

    assert counts.shape == (NUM_CLIENTS, 10)
    assert counts.dtype == np.int64
    assert np.array_equal(counts.sum(axis=1), [part.size for part in parts])
    assert np.array_equal(counts.sum(axis=0), np.bincount(sorted_labels))


def test_label_distribution_by_hand():
    labels = np.array([0, 0, 1, 2, 2, 2])
    parts = [np.array([0, 3]), np.array([1, 2, 4, 5])]

    counts = label_distribution(labels, parts, num_classes=4)

    assert np.array_equal(counts, [[1, 0, 1, 0], [1, 1, 2, 0]])


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PARTITIONERS)
def test_more_clients_than_examples_is_rejected(name):
    labels = np.array([0, 1, 0, 1])

    with pytest.raises(ValueError, match="num_clients"):
        PARTITIONERS[name](labels, 5, 0)


@pytest.mark.parametrize("name", PARTITIONERS)
def test_zero_clients_is_rejected(name, sorted_labels):
    with pytest.raises(ValueError, match="num_clients"):
        PARTITIONERS[name](sorted_labels, 0, 0)


@pytest.mark.parametrize("alpha", [0, -1, float("nan")])
def test_dirichlet_rejects_non_positive_alpha(alpha, sorted_labels):
    with pytest.raises(ValueError, match="alpha"):
        dirichlet(sorted_labels, NUM_CLIENTS, alpha=alpha)


@pytest.mark.parametrize("alpha", [0, -1, float("nan")])
def test_quantity_skew_rejects_non_positive_alpha(alpha):
    with pytest.raises(ValueError, match="alpha"):
        quantity_skew(100, NUM_CLIENTS, alpha=alpha)


@pytest.mark.parametrize("shards_per_client", [0, 100])
def test_shards_rejects_impossible_shards_per_client(shards_per_client, sorted_labels):
    with pytest.raises(ValueError, match="shards_per_client"):
        shards(sorted_labels, NUM_CLIENTS, shards_per_client=shards_per_client)


def test_label_distribution_rejects_too_few_classes():
    with pytest.raises(ValueError, match="num_classes"):
        label_distribution(np.array([0, 1, 2]), [np.array([0, 1, 2])], num_classes=2)
