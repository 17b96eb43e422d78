"""Helpers for the course *Federated learning, hands-on, from zero*.

The modules follow the roles of a federated-learning job:

- ``data``        loading datasets (no FL in it)
- ``partition``   splitting a dataset across clients
- ``models``      small models, and parameters <-> NumPy arrays
- ``training``    plain local training and evaluation (no FL in it)
- ``client``      a client: ``fit`` and ``evaluate`` on its own data
- ``aggregate``   FedAvg, weighted means, median and trimmed mean (pure math)
- ``compression`` quantized and sparsified updates
- ``strategy``    the server's decisions: which clients, which config, how to aggregate
- ``faults``      clients that fail or are slow, simulated
- ``simulation``  the round loop, and the local-only baseline
- ``evaluation``  server-side and per-client evaluation
- ``checks``      the argument checks the modules share
- ``replicate``   evidence over seeds: repeat an experiment, summarize, test a claim
- ``attacks``     what an update leaks and how a client can poison it: inversion, membership, backdoors
- ``secagg``      secure aggregation: pairwise masks, key agreement, secret sharing
- ``privacy``     differential privacy: mechanisms, DP-FedAvg, privacy accounting
- ``flower``      notebook 11 only: starts and stops Flower's processes (never imports flwr)
- ``plotting``    pictures of partitions, histories and per-client metrics
- ``exercises``   checks that compare a learner's answer with the reference
"""

__version__ = "0.1.0"
