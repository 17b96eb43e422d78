"""Helpers for the course *Federated learning, hands-on, from zero*.

The modules follow the roles of a federated-learning job:

- ``data``        loading datasets (no FL in it)
- ``partition``   splitting a dataset across clients
- ``models``      small models, and parameters <-> NumPy arrays
- ``training``    plain local training and evaluation (no FL in it)
- ``client``      a client: ``fit`` and ``evaluate`` on its own data
- ``aggregate``   FedAvg and weighted means (pure math)
- ``strategy``    the server's decisions: which clients, which config, how to aggregate
- ``simulation``  the round loop
- ``plotting``    pictures of partitions, histories and per-client metrics
- ``exercises``   checks that compare a learner's answer with the reference
"""

__version__ = "0.1.0"
