"""Cross-device populations: thousands of clients whose data is made only when a client is asked for.

A population holds a recipe, not the clients: client ``cid``'s examples are generated (or sliced)
from ``(seed, cid)`` each time they are asked for, so creating a population of a million clients
takes no time and no memory, the clients that are never sampled never exist, and the same
``(seed, cid)`` always gives the same examples.

- :class:`SyntheticPopulation`: the **synthetic** Synthetic(alpha, beta) data of Li et al. (2020,
  *Federated Optimization in Heterogeneous Networks*, the FedProx paper, section 5.1 and
  appendix C.1), after Shamir et al. (2014): every client has its own logistic-regression
  "truth" and its own feature distribution; ``alpha`` sets how much the clients' models differ,
  ``beta`` how much their features do.
- :class:`SplitPopulation`: a real dataset (the bundled digits) dealt out over many clients, a
  few examples each, at random or sorted by label.

Both give ``client_fn(model_fn)`` for ``simulation.run_simulation``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.data import TensorDataset

from course_utils.checks import check_callable, check_dataset, check_integer, check_number, check_seed
from course_utils.client import Client

NUM_FEATURES = 60  # Li et al.'s x in R^60
NUM_CLASSES = 10  # ... and 10 classes
_SIZE, _MODEL, _FEATURES, _EXAMPLES, _GLOBAL = range(5)  # what each random stream is for


def _rng(seed: int, cid: int, purpose: int) -> np.random.Generator:
    """The random stream of one client (``cid >= 0``) or of the whole population (``cid = -1``) for one purpose."""
    return np.random.default_rng(np.random.SeedSequence([seed, cid + 1, purpose]))


def _split_train_test(x: np.ndarray, y: np.ndarray, test_fraction: float) -> tuple[TensorDataset, TensorDataset | None]:
    """The first examples for training, the last ``test_fraction`` of them (at least one train example) for testing."""
    num_test = min(int(round(test_fraction * len(y))), len(y) - 1)
    num_train = len(y) - num_test

    def as_data(a: np.ndarray, b: np.ndarray) -> TensorDataset:
        return TensorDataset(torch.as_tensor(a, dtype=torch.float32), torch.as_tensor(b, dtype=torch.int64))

    return as_data(x[:num_train], y[:num_train]), (as_data(x[num_train:], y[num_train:]) if num_test else None)


class Population:
    """What both populations share: client ids ``0 .. num_clients - 1``, a local train/test split, ``client_fn``."""

    num_clients: int
    test_fraction: float
    seed: int

    def check_cid(self, cid: int) -> int:
        """``cid`` as an int if it is a client of this population; a ValueError naming the range otherwise."""
        return check_integer("cid", cid, 0, self.num_clients - 1, hint=" (a client of this population)")

    def examples(self, cid: int) -> tuple[np.ndarray, np.ndarray]:
        """Client ``cid``'s examples, (x, y); defined by each population."""
        raise NotImplementedError

    def client_data(self, cid: int) -> tuple[TensorDataset, TensorDataset | None]:
        """Client ``cid``'s (train, test) data: its last ``test_fraction`` of examples are its test data."""
        x, y = self.examples(cid)
        return _split_train_test(x, y, self.test_fraction)

    def test_data(self, cids: list[int] | np.ndarray) -> TensorDataset:
        """The test examples of clients ``cids``, pooled: a stand-in for federated evaluation over them."""
        parts = [self.client_data(int(cid))[1] for cid in cids]
        parts = [p for p in parts if p is not None]
        if not parts:
            raise ValueError("none of these clients holds test data: raise test_fraction or pass more cids")
        return TensorDataset(*(torch.cat([p.tensors[i] for p in parts]) for i in range(2)))

    def client_fn(self, model_fn: Callable[[], nn.Module]) -> Callable[[int], Client]:
        """A ``client_fn(cid) -> Client`` for ``run_simulation``; each client's data is made when it is asked for.

        The clients take turns in one model object (as in ``client.make_client_fn``); nothing is kept
        between calls, so a client that is never sampled costs nothing.
        """
        if isinstance(model_fn, nn.Module):
            raise TypeError("model_fn must be a function () -> nn.Module that builds the model, got a model "
                            f"({type(model_fn).__name__}); pass e.g. lambda: make_model(...)")
        check_callable("model_fn", model_fn, "() -> nn.Module, the model to train in")
        workspace = model_fn()
        if not isinstance(workspace, nn.Module):
            raise TypeError(f"model_fn() must return a torch nn.Module, got {type(workspace).__name__}")

        def client_fn(cid: int) -> Client:
            train_data, test_data = self.client_data(self.check_cid(cid))
            return Client(int(cid), lambda: workspace, train_data, test_data, seed=self.seed)

        return client_fn


@dataclass(frozen=True)
class SyntheticPopulation(Population):
    """Synthetic(alpha, beta) federated data after Li et al. (2020), for ``num_clients`` clients. Synthetic.

    Client k has a model ``W_k`` (10 x 60) and ``b_k`` (10,) with every entry ~ N(u_k, 1), where
    ``u_k ~ N(0, alpha^2)``, and features ``x ~ N(v_k, Sigma)`` with ``Sigma`` diagonal,
    ``Sigma_jj = j^-1.2`` (j = 1..60), each entry of ``v_k`` ~ N(B_k, 1) and ``B_k ~ N(0, beta^2)``.
    Its labels are ``y = argmax(softmax(W_k x + b_k))``. So ``alpha`` spreads the clients' models
    and ``beta`` their features; with alpha = beta = 0 the clients still differ (their own W_k, v_k,
    drawn around the same means). ``iid=True`` is the paper's IID variant: one W, b for everyone and
    the same feature distribution (mean 0). (The paper writes N(0, alpha); its code draws with
    standard deviation alpha, as here; they agree at alpha = 1.)

    Sizes follow a power law: ``min_size + floor(lognormal(size_mu, size_sigma))`` examples
    (Li et al. use lognormal(4, 2) + 50 for 30 devices; the defaults here give phones a few
    dozen). Everything of client k is drawn from ``(seed, k)``: x is float32 (n, 60), y int64 (n,).
    """

    num_clients: int
    alpha: float = 1.0
    beta: float = 1.0
    iid: bool = False
    size_mu: float = 2.5
    size_sigma: float = 1.0
    min_size: int = 5
    test_fraction: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        check_integer("num_clients", self.num_clients, 1)
        check_number("alpha", self.alpha, 0, hint=" (0: every client's model is drawn around the same mean)")
        check_number("beta", self.beta, 0, hint=" (0: every client's features are drawn around the same mean)")
        if not isinstance(self.iid, (bool, np.bool_)):
            raise TypeError(f"iid must be True or False, got {self.iid!r}")
        check_number("size_mu", self.size_mu, hint=" (the log-size's mean)")
        check_number("size_sigma", self.size_sigma, 0, 3, hint=" (the log-size's standard deviation)")
        check_integer("min_size", self.min_size, 1, hint=" (examples every client holds at least)")
        check_number("test_fraction", self.test_fraction, 0, 1, max_open=True)
        check_seed(self.seed)

    def size(self, cid: int) -> int:
        """How many examples client ``cid`` holds (train and test together)."""
        draw = _rng(self.seed, self.check_cid(cid), _SIZE).lognormal(self.size_mu, self.size_sigma)
        return self.min_size + int(min(draw, 1e6))

    def model(self, cid: int) -> tuple[np.ndarray, np.ndarray]:
        """Client ``cid``'s true model: ``W`` (10, 60) and ``b`` (10,)."""
        rng = _rng(self.seed, -1 if self.iid else self.check_cid(cid), _MODEL)
        mean = 0.0 if self.iid else self.alpha * rng.standard_normal()
        return mean + rng.standard_normal((NUM_CLASSES, NUM_FEATURES)), mean + rng.standard_normal(NUM_CLASSES)

    def feature_mean(self, cid: int) -> np.ndarray:
        """Client ``cid``'s feature mean ``v_k``, shape (60,) (zeros for ``iid=True``)."""
        self.check_cid(cid)
        if self.iid:
            return np.zeros(NUM_FEATURES)
        rng = _rng(self.seed, cid, _FEATURES)
        return self.beta * rng.standard_normal() + rng.standard_normal(NUM_FEATURES)

    def examples(self, cid: int) -> tuple[np.ndarray, np.ndarray]:
        """Client ``cid``'s examples: x float32 (n, 60), y int64 (n,), n = ``size(cid)``."""
        W, b = self.model(cid)
        scale = np.arange(1, NUM_FEATURES + 1) ** -0.6  # the square root of Sigma_jj = j^-1.2
        x = self.feature_mean(cid) + scale * _rng(self.seed, cid, _EXAMPLES).standard_normal(
            (self.size(cid), NUM_FEATURES))
        return x.astype(np.float32), np.argmax(x @ W.T + b, axis=1).astype(np.int64)  # softmax keeps the argmax


@dataclass(frozen=True, eq=False)
class SplitPopulation(Population):
    """A dataset dealt out over ``num_clients`` clients, about ``len(data) / num_clients`` examples each.

    ``order="random"`` deals a seeded permutation (IID); ``order="label"`` deals the examples
    sorted by label (ties in seeded order), so each client holds one or two labels, the most
    skewed split there is. Only one permutation of the example indices is kept (memory grows
    with the examples, not with the clients); client ``cid`` holds the ``cid``-th slice of it.
    """

    data: TensorDataset
    num_clients: int
    order: str = "random"
    test_fraction: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        check_dataset(self.data)
        check_integer("num_clients", self.num_clients, 1, len(self.data),
                      hint=f" (at most the {len(self.data)} examples, so that every client holds one)")
        if self.order not in ("random", "label"):
            raise ValueError(f"order must be one of ('random', 'label'), got {self.order!r}")
        check_number("test_fraction", self.test_fraction, 0, 1, max_open=True)
        check_seed(self.seed)
        permutation = np.random.default_rng(self.seed).permutation(len(self.data))
        if self.order == "label":
            labels = self.data.tensors[1].numpy()[permutation]
            permutation = permutation[np.argsort(labels, kind="stable")]
        object.__setattr__(self, "_order", permutation)

    def indices(self, cid: int) -> np.ndarray:
        """The indices (into ``data``) of client ``cid``'s examples."""
        cid = self.check_cid(cid)
        start, stop = (c * len(self.data) // self.num_clients for c in (cid, cid + 1))
        return self._order[start:stop]

    def size(self, cid: int) -> int:
        """How many examples client ``cid`` holds."""
        return len(self.indices(cid))

    def examples(self, cid: int) -> tuple[np.ndarray, np.ndarray]:
        """Client ``cid``'s examples, as NumPy arrays (x keeps the dataset's shape per example)."""
        idx = torch.as_tensor(self.indices(cid))
        return self.data.tensors[0][idx].numpy(), self.data.tensors[1][idx].numpy()


def rounds_until_all_seen(num_clients: int, per_round: int, seed: int = 0, max_rounds: int = 100_000) -> int:
    """Rounds of uniform sampling (``per_round`` distinct clients each) until every client was sampled once.

    A coupon collector: about ``num_clients / per_round * ln(num_clients)`` rounds. The draws are
    those of ``FedAvg.configure_fit`` in ``run_simulation(seed=seed)`` without federated evaluation,
    so the count is that run's. ``max_rounds`` stops the count (and is returned) if it takes longer.
    """
    check_integer("num_clients", num_clients, 1)
    check_integer("per_round", per_round, 1, num_clients, hint=" (clients sampled per round)")
    check_seed(seed)
    check_integer("max_rounds", max_rounds, 1)
    rng, seen = np.random.default_rng(seed), np.zeros(num_clients, dtype=bool)
    for server_round in range(1, max_rounds + 1):
        seen[rng.choice(num_clients, size=per_round, replace=False)] = True
        if seen.all():
            return server_round
    return max_rounds
