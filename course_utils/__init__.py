"""Helpers for the course *Federated learning, hands-on, from zero*.

The modules follow the roles of a federated-learning job:

- ``data``        loading datasets (no FL in it)
- ``partition``   splitting a dataset across clients
- ``population``  cross-device populations of thousands of clients, made on demand (synthetic or digits)
- ``models``      small models, and parameters <-> NumPy arrays
- ``training``    plain local training and evaluation (no FL in it)
- ``client``      a client: ``fit`` and ``evaluate`` on its own data
- ``aggregate``   FedAvg, weighted means, median and trimmed mean (pure math)
- ``compression`` quantized and sparsified updates, and ``CompressedFedAvg``
- ``strategy``    the server's decisions: which clients, which config, how to aggregate
- ``faults``      clients that fail or are slow, simulated, and ``DeadlineFedAvg``
- ``simulation``  the round loop, and the local-only baseline
- ``batched``     many of the course's clients trained as one computation (run_simulation's batched path)
- ``evaluation``  server-side and per-client evaluation
- ``checks``      the argument checks the modules share
- ``replicate``   evidence over seeds: repeat an experiment, summarize, test a claim
- ``attacks``     what an update leaks and how a client can poison it: inversion, membership, backdoors
- ``secagg``      secure aggregation: pairwise masks, key agreement, secret sharing, ``SecAggFedAvg``
- ``privacy``     differential privacy: mechanisms, DP-FedAvg (fixed or adaptive clipping), privacy accounting
- ``dp_sgd``      record-level DP inside a client: DP-SGD with Opacus
- ``flower_processes`` notebook 11 only: starts and stops Flower's processes (never imports flwr)
- ``plotting``    pictures of partitions, histories and per-client metrics
- ``diagrams``    drawings of the protocols: a round's five steps, secure aggregation, stragglers, Flower
- ``exercises``   checks that compare a learner's answer with the reference
"""

__version__ = "0.1.0"
