"""The ClientApp: each SuperNode runs the course's own client on its own partition.

Flower sends a Message; its content holds the global model as an ArrayRecord under
"arrays" and the round's settings as a ConfigRecord under "config". The handlers turn them
into the course's parameters (a list of NumPy arrays) and config, call ``Client.fit`` or
``Client.evaluate``, and reply with an ArrayRecord and a MetricRecord that carries
"num-examples", FedAvg's weight, and "unit-weight" (always 1), the weight of an unweighted
average, which the DP job uses.
"""

from __future__ import annotations

from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from fl_digits.task import fit_config, load_client

app = ClientApp()


def _client(context: Context):
    """This SuperNode's client: its partition comes from the node config, set where the node starts."""
    partition_id = int(context.node_config["partition-id"])
    num_partitions = int(context.node_config["num-partitions"])
    expected = int(context.run_config["num-partitions"])
    if num_partitions != expected:
        raise ValueError(
            f"this SuperNode was started with num-partitions={num_partitions}, but the run expects "
            f"num-partitions={expected}: start as many SuperNodes as partitions, or change the run config"
        )
    return load_client(context.run_config, partition_id, num_partitions)


@app.train()
def train(msg: Message, context: Context) -> Message:
    """Steps 2 and 3: train the received global model locally, send back the new parameters."""
    parameters = msg.content["arrays"].to_numpy_ndarrays()
    new_parameters, num_examples, metrics = _client(context).fit(parameters, fit_config(msg.content["config"]))
    reply = RecordDict(
        {"arrays": ArrayRecord(new_parameters),
         "metrics": MetricRecord({**metrics, "num-examples": num_examples, "unit-weight": 1})}
    )
    return Message(content=reply, reply_to=msg)


@app.evaluate()
def evaluate(msg: Message, context: Context) -> Message:
    """Federated evaluation: test the received global model on this client's own held-out data."""
    parameters = msg.content["arrays"].to_numpy_ndarrays()
    loss, num_examples, metrics = _client(context).evaluate(parameters, {})
    # "unit-weight" too: the DP job's FedAvg averages evaluations with it as well (one vote a client)
    reply = RecordDict({"metrics": MetricRecord({"loss": loss, **metrics, "num-examples": num_examples, "unit-weight": 1})})
    return Message(content=reply, reply_to=msg)
