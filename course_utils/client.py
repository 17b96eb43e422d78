"""A simulated client: it holds its own data and only ever shares parameters and counts.

Mirrors Flower's ``NumPyClient``: ``fit`` trains the received parameters on local data and
returns the new ones; ``evaluate`` tests them on local held-out data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from torch import nn
from torch.utils.data import TensorDataset

from course_utils.checks import check_callable, check_integer
from course_utils.models import get_parameters, set_parameters
from course_utils.training import evaluate, train

Config = dict[str, Any]
Parameters = list[np.ndarray]

DEFAULT_FIT_CONFIG: Config = {"local_epochs": 1, "batch_size": 16, "learning_rate": 0.1}
FIT_CONFIG_KEYS = ("local_epochs", "local_steps", "batch_size", "learning_rate", "proximal_mu", "server_round", "seed")
EVALUATE_CONFIG_KEYS = ("server_round", "seed")


def client_seed(seed: int, cid: int, server_round: int, purpose: int = 0) -> int:
    """A seed for one client's work in one round, different for every argument combination."""
    for name, value in (("seed", seed), ("cid", cid), ("server_round", server_round), ("purpose", purpose)):
        check_integer(name, value, 0)
    return int(np.random.SeedSequence([seed, cid, server_round, purpose]).generate_state(1)[0])


def _is_integer(value: Any) -> bool:
    return not isinstance(value, (bool, np.bool_)) and (
        isinstance(value, (int, np.integer)) or (isinstance(value, (float, np.floating)) and float(value).is_integer())
    )


def _is_number(value: Any) -> bool:
    return not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, float, np.integer, np.floating))


def check_config(config: Config, allowed: tuple[str, ...]) -> None:
    """Raise ``ValueError`` for a config key outside ``allowed`` or a value outside its range.

    Counts (``local_epochs``, ``local_steps``, ``batch_size``) are positive integers (``local_steps``
    may be None), ``learning_rate`` a finite number > 0, ``proximal_mu`` a finite number >= 0,
    ``server_round`` and ``seed`` integers >= 0.
    """
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dict, got {type(config).__name__}")
    unknown = sorted(set(config) - set(allowed))
    if unknown:
        raise ValueError(f"config has unknown key(s) {unknown}; allowed keys: {list(allowed)}")
    for key, value in config.items():
        if key == "local_steps" and value is None:
            continue
        if key in ("local_epochs", "local_steps", "batch_size") and not (_is_integer(value) and value >= 1):
            raise ValueError(f"config[{key!r}] must be a positive integer, got {value!r}")
        if key in ("server_round", "seed") and not (_is_integer(value) and value >= 0):
            raise ValueError(f"config[{key!r}] must be an integer >= 0, got {value!r}")
        if key == "learning_rate" and not (_is_number(value) and np.isfinite(value) and value > 0):
            raise ValueError(f"config['learning_rate'] must be a finite number > 0, got {value!r}")
        if key == "proximal_mu" and not (_is_number(value) and np.isfinite(value) and value >= 0):
            raise ValueError(f"config['proximal_mu'] must be a finite number >= 0 (0 is plain FedAvg), got {value!r}")


class Client:
    """Client ``cid`` with its own ``train_data`` and (optional) ``test_data``.

    ``model_fn()`` returns the model to work in (a new one, or a workspace shared with other
    clients); its weights are always overwritten by the parameters the server sends.
    """

    def __init__(
        self,
        cid: int,
        model_fn: Callable[[], nn.Module],
        train_data: TensorDataset,
        test_data: TensorDataset | None = None,
        seed: int = 0,
    ) -> None:
        check_callable("model_fn", model_fn, "() -> nn.Module, the model to train in")
        if not isinstance(train_data, TensorDataset):
            raise TypeError(f"client {cid}: train_data must be a TensorDataset, got {type(train_data).__name__}")
        if len(train_data) == 0:
            raise ValueError(f"client {cid}: train_data is empty; every client needs at least one example")
        self.cid = cid
        self.model_fn = model_fn
        self.train_data = train_data
        self.test_data = test_data
        self.seed = seed

    def fit(self, parameters: Parameters, config: Config) -> tuple[Parameters, int, dict[str, float]]:
        """Train ``parameters`` locally; return (new parameters, number of training examples, metrics).

        ``config`` keys (defaults in ``DEFAULT_FIT_CONFIG``; any other key is refused, see
        ``FIT_CONFIG_KEYS``): ``local_epochs``, or ``local_steps`` (mini-batch steps, takes
        precedence), ``batch_size``, ``learning_rate``, ``proximal_mu`` (FedProx's proximal term,
        0 by default), and ``server_round`` and ``seed``, which together with the client's id
        seed the shuffling: ``run_simulation`` sends its run seed as ``seed``; without one the
        client's own ``seed`` is used.
        """
        check_config(config, FIT_CONFIG_KEYS)
        config = {**DEFAULT_FIT_CONFIG, **config}
        model = self.model_fn()
        set_parameters(model, parameters)
        seed = client_seed(int(config.get("seed", self.seed)), self.cid, int(config.get("server_round", 0)))
        stats = train(
            model,
            self.train_data,
            epochs=int(config["local_epochs"]),
            steps=None if config.get("local_steps") is None else int(config["local_steps"]),
            batch_size=int(config["batch_size"]),
            lr=float(config["learning_rate"]),
            seed=seed,
            proximal_mu=float(config.get("proximal_mu", 0.0)),
        )
        return get_parameters(model), len(self.train_data), {"train_loss": stats["loss"]}

    def evaluate(self, parameters: Parameters, config: Config) -> tuple[float, int, dict[str, float]]:
        """Test ``parameters`` on the local test data: (loss, number of test examples, {"accuracy"})."""
        check_config(config, EVALUATE_CONFIG_KEYS)
        if self.test_data is None or len(self.test_data) == 0:
            raise ValueError(f"client {self.cid} has no test_data to evaluate on")
        model = self.model_fn()
        set_parameters(model, parameters)
        loss, accuracy = evaluate(model, self.test_data)
        return loss, len(self.test_data), {"accuracy": accuracy}


def split_local(indices: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split one client's example ``indices`` into local (train, test) index arrays.

    At least one example stays for training; a client with a single example has no test data.
    """
    if not 0 <= test_fraction < 1:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    indices = np.asarray(indices, dtype=np.int64)
    num_test = min(int(round(test_fraction * indices.size)), indices.size - 1)
    if num_test == 0:  # nothing held out: the shuffle below would not change the sorted result
        return np.sort(indices), indices[:0]
    indices = np.random.default_rng(seed).permutation(indices)
    return np.sort(indices[num_test:]), np.sort(indices[:num_test])


def make_client_fn(
    data: TensorDataset,
    partitions: list[np.ndarray],
    model_fn: Callable[[], nn.Module],
    test_fraction: float = 0.2,
    seed: int = 0,
) -> Callable[[int], Client]:
    """A ``client_fn(cid) -> Client`` for a partitioned dataset, building each client on demand.

    Client ``cid`` holds the examples ``data[partitions[cid]]``, of which ``test_fraction``
    are held out as its local test data (the same ones every time).

    The clients take turns in one model object, built here once: every ``fit`` and
    ``evaluate`` first loads the parameters it received into it, so nothing carries over
    from one client to the next, and the simulation does not pay for building a model per
    client (which costs about as much as a small client's whole local epoch).
    """
    from course_utils.data import subset

    if not 0 <= test_fraction < 1:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    for cid, part in enumerate(partitions):
        if len(part) == 0:
            raise ValueError(f"partitions[{cid}] is empty; every client needs at least one example")
    workspace = model_fn()

    def client_fn(cid: int) -> Client:
        check_integer("cid", cid)
        if not 0 <= cid < len(partitions):
            raise ValueError(f"cid must be in [0, {len(partitions) - 1}], got {cid}")
        split_seed = client_seed(seed, cid, 0, purpose=1) if test_fraction > 0 else 0  # unused when nothing is held out
        train_idx, test_idx = split_local(partitions[cid], test_fraction, split_seed)
        test_data = subset(data, test_idx) if test_idx.size else None
        return Client(cid, lambda: workspace, subset(data, train_idx), test_data, seed=seed)

    return client_fn
