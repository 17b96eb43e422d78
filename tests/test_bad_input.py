"""The bad-input battery: bad calls across the public API of course_utils, each of which must be refused.

Every case is one call that a learner or an instructor could plausibly make by mistake: a
string, None or a list where a number is wanted, a bool where a count is wanted, NaN or
infinity, a negative number, zero, a fractional count (10.5 clients), an empty input,
mismatched shapes, a fraction outside its range, an unknown name. The call must raise a
ValueError or TypeError (or the module's own error class) at construction or call time,
whose message names the argument (``match`` is searched in it) and, where sensible, the
allowed values.

Cases for modules other engineers own that fail today are marked ``xfail(strict=True)`` with
the owner and what is wrong: once fixed they XPASS, which fails, and the mark must go.

Run this file as a script to see, per module, how many cases are rejected clearly, and the
overall rejected share: ``python tests/test_bad_input.py``.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no windows: draw in memory

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import TensorDataset  # noqa: E402

from course_utils import (  # noqa: E402
    aggregate,
    client,
    compression,
    data,
    evaluation,
    faults,
    flower_processes,
    models,
    partition,
    plotting,
    privacy,
    replicate,
    secagg,
    simulation,
    strategy,
    training,
)
from course_utils.exercises import core  # noqa: E402

torch.set_num_threads(1)

NAN, INF = math.nan, math.inf

# ----------------------------------------------------------------------------- tiny valid inputs
# Built once, in milliseconds; each case spoils exactly one argument of an otherwise valid call.

_gen = torch.Generator().manual_seed(0)
_y = torch.arange(40) % 2
FEATURES = TensorDataset(torch.randn(40, 4, generator=_gen), _y.to(torch.int64))  # 4 features, 2 classes
IMAGES = TensorDataset(torch.randn(8, 1, 8, 8, generator=_gen), (torch.arange(8) % 2).to(torch.int64))
EMPTY = TensorDataset(torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64))
LABELS = np.repeat(np.arange(4), 10)  # 40 labels, 10 of each of 4 classes


def model_fn() -> torch.nn.Module:
    return models.make_model("logistic", (4,), 2, seed=0)


MODEL = model_fn()
PARAMS = models.get_parameters(MODEL)
PARTS = partition.iid(40, 4, seed=0)
CLIENT_FN = client.make_client_fn(FEATURES, PARTS, model_fn, seed=0)
CLIENT = CLIENT_FN(0)
RESULTS = [(PARAMS, 10), ([p + 1 for p in PARAMS], 30)]
HISTORY = simulation.History(losses_centralized=[(0, 1.0), (1, 0.5)],
                             metrics_centralized={"accuracy": [(0, 0.5), (1, 0.8)]})
SUMMARY = replicate.Summary(np.array([0.9, 0.8, 0.85]), (0, 1, 2))
RNG = np.random.default_rng(0)
VECTORS = [np.zeros(3), np.ones(3)]


def nan_params() -> list[np.ndarray]:
    return [np.full_like(p, NAN) for p in PARAMS]


def wrong_shape_params() -> list[np.ndarray]:
    return [np.zeros((3, 3), dtype=np.float32), PARAMS[1]]


def square(x: float) -> float:
    return x * x


def one_input(rng: np.random.Generator) -> tuple:
    return (float(rng.normal()),)


# ----------------------------------------------------------------------------- the cases

LOOP = "owned by the loop engineer"
DP = "owned by the dp engineer"
SECAGG = "owned by the secagg engineer"
FLOWER = "owned by the flower engineer"
LEAD = "owned by the lead"
UNOWNED = "compression.py (no engineer assigned this session; the lead)"


@dataclass(frozen=True)
class Case:
    """One bad call: ``call()`` must raise one of ``errors`` with ``match`` found in the message."""

    module: str
    name: str
    call: Callable[[], object]
    match: str
    errors: tuple[type[BaseException], ...] = (ValueError, TypeError)
    xfail: str | None = None  # "owned by ...: what is wrong", for cases other engineers must fix


C = Case
POSINT = r"{}.*(positive integer|integer >= 1)"  # either wording of "an integer >= 1"
CASES: list[Case] = [
    # --- partition ---------------------------------------------------------------------------
    C("partition", "iid num_examples fractional", lambda: partition.iid(10.5, 2), r"num_examples.*positive integer"),
    C("partition", "iid num_examples str", lambda: partition.iid("10", 2), r"num_examples.*integer"),
    C("partition", "iid num_examples None", lambda: partition.iid(None, 2), r"num_examples.*integer"),
    C("partition", "iid num_examples zero", lambda: partition.iid(0, 2), r"num_examples.*positive"),
    C("partition", "iid num_clients fractional", lambda: partition.iid(10, 2.5), r"num_clients.*positive integer"),
    C("partition", "iid num_clients zero", lambda: partition.iid(10, 0), r"num_clients.*positive integer"),
    C("partition", "iid num_clients negative", lambda: partition.iid(10, -3), r"num_clients.*positive integer"),
    C("partition", "iid num_clients bool", lambda: partition.iid(10, True), r"num_clients.*integer"),
    C("partition", "iid more clients than examples", lambda: partition.iid(10, 11), r"num_clients.*at most.*10"),
    C("partition", "iid seed negative", lambda: partition.iid(10, 2, seed=-1), r"seed.*integer >= 0"),
    C("partition", "iid seed fractional", lambda: partition.iid(10, 2, seed=1.5), r"seed.*integer >= 0"),
    C("partition", "dirichlet alpha zero", lambda: partition.dirichlet(LABELS, 4, alpha=0), r"alpha.*> 0"),
    C("partition", "dirichlet alpha NaN", lambda: partition.dirichlet(LABELS, 4, alpha=NAN), r"alpha.*finite"),
    C("partition", "dirichlet alpha inf", lambda: partition.dirichlet(LABELS, 4, alpha=INF), r"alpha.*finite"),
    C("partition", "dirichlet alpha str", lambda: partition.dirichlet(LABELS, 4, alpha="1"), r"alpha.*number"),
    C("partition", "dirichlet alpha None", lambda: partition.dirichlet(LABELS, 4, alpha=None), r"alpha.*number"),
    C("partition", "dirichlet labels empty", lambda: partition.dirichlet([], 2, alpha=1.0), r"labels.*non-empty"),
    C("partition", "dirichlet labels 2-D", lambda: partition.dirichlet(LABELS.reshape(4, 10), 2, 1.0), r"labels.*1-D"),
    C("partition", "dirichlet labels float", lambda: partition.dirichlet([0.5, 1.2, 0.1], 2, 1.0), r"labels.*integer"),
    C("partition", "dirichlet labels negative", lambda: partition.dirichlet([-1, 0, 1], 2, 1.0),
      r"labels.*non-negative"),
    C("partition", "dirichlet min_size zero", lambda: partition.dirichlet(LABELS, 4, 1.0, min_size=0),
      r"min_size.*\[1, 10\]"),
    C("partition", "dirichlet min_size fractional", lambda: partition.dirichlet(LABELS, 4, 1.0, min_size=1.5),
      r"min_size.*integer"),
    C("partition", "shards shards_per_client zero", lambda: partition.shards(LABELS, 4, shards_per_client=0),
      r"shards_per_client.*\[1, 10\]"),
    C("partition", "shards shards_per_client fractional", lambda: partition.shards(LABELS, 4, shards_per_client=1.5),
      r"shards_per_client.*integer"),
    C("partition", "shards num_clients fractional", lambda: partition.shards(LABELS, 2.5),
      r"num_clients.*positive integer"),
    C("partition", "quantity_skew alpha negative", lambda: partition.quantity_skew(40, 4, alpha=-1.0), r"alpha.*> 0"),
    C("partition", "quantity_skew num_examples fractional", lambda: partition.quantity_skew(40.5, 4),
      r"num_examples.*positive integer"),
    C("partition", "label_distribution index out of range",
      lambda: partition.label_distribution(LABELS, [[0, 1], [99]]), r"partitions\[1\].*\[0, 39\]"),
    C("partition", "label_distribution float indices", lambda: partition.label_distribution(LABELS, [[0.5, 1.5]]),
      r"partitions\[0\].*integer"),
    C("partition", "label_distribution num_classes too small", lambda: partition.label_distribution(LABELS, PARTS, 2),
      r"num_classes.*exceed.*3"),
    C("partition", "label_distribution num_classes fractional",
      lambda: partition.label_distribution(LABELS, PARTS, 4.5), r"num_classes.*integer"),
    C("partition", "label_distribution partitions not a list", lambda: partition.label_distribution(LABELS, 4),
      r"partitions.*list"),
    # --- models ------------------------------------------------------------------------------
    C("models", "make_model unknown name", lambda: models.make_model("resnet", (4,), 2), r"name.*one of.*cnn.*mlp"),
    C("models", "make_model input_shape zero", lambda: models.make_model("mlp", (0,), 10), r"input_shape.*positive"),
    C("models", "make_model input_shape empty", lambda: models.make_model("mlp", (), 10), r"input_shape.*non-empty"),
    C("models", "make_model input_shape negative", lambda: models.make_model("logistic", (-3,), 10),
      r"input_shape.*positive"),
    C("models", "make_model input_shape fractional", lambda: models.make_model("mlp", (2.5,), 10),
      r"input_shape.*integer"),
    C("models", "make_model input_shape int", lambda: models.make_model("mlp", 64, 10), r"input_shape.*tuple"),
    C("models", "make_model cnn 2-D shape", lambda: models.make_model("cnn", (1, 8), 10),
      r"input_shape.*channels, size, size"),
    C("models", "make_model cnn non-square", lambda: models.make_model("cnn", (1, 8, 6), 10),
      r"input_shape.*channels, size, size"),
    C("models", "make_model cnn 1x1 image", lambda: models.make_model("cnn", (1, 1, 1), 10),
      r"input_shape.*at least 2"),
    C("models", "make_model num_classes one", lambda: models.make_model("mlp", (4,), 1), r"num_classes.*>= 2"),
    C("models", "make_model num_classes fractional", lambda: models.make_model("mlp", (4,), 2.5),
      r"num_classes.*integer"),
    C("models", "make_model num_classes str", lambda: models.make_model("mlp", (4,), "10"), r"num_classes.*integer"),
    C("models", "make_model seed negative", lambda: models.make_model("mlp", (4,), 2, seed=-1), r"seed.*integer >= 0"),
    C("models", "make_model seed fractional", lambda: models.make_model("mlp", (4,), 2, seed=0.5),
      r"seed.*integer >= 0"),
    C("models", "set_parameters too few", lambda: models.set_parameters(model_fn(), PARAMS[:1]),
      r"parameters.*2 arrays"),
    C("models", "set_parameters wrong shape", lambda: models.set_parameters(model_fn(), wrong_shape_params()),
      r"parameters\[0\].*shape \(2, 4\)"),
    C("models", "set_parameters NaN", lambda: models.set_parameters(model_fn(), nan_params()), r"parameters\[0\].*NaN"),
    C("models", "set_parameters None", lambda: models.set_parameters(model_fn(), None), r"parameters.*list"),
    C("models", "set_parameters strings", lambda: models.set_parameters(model_fn(), [np.array(["a"] * 8).reshape(2, 4),
                                                                                      PARAMS[1]]),
      r"parameters\[0\].*numbers"),
    C("models", "get_parameters not a model", lambda: models.get_parameters(None), r"model.*nn\.Module"),
    C("models", "num_bytes None", lambda: models.num_bytes(None), r"parameters.*list"),
    # --- data --------------------------------------------------------------------------------
    C("data", "load_dataset unknown name", lambda: data.load_dataset("imagenet"), r"name.*one of.*digits"),
    C("data", "load_dataset name None", lambda: data.load_dataset(None), r"name.*one of.*digits"),
    C("data", "load_dataset download str", lambda: data.load_dataset("mnist", download="yes"),
      r"download.*True or False"),
    C("data", "load_torchvision_data bundled name", lambda: data.load_torchvision_data("digits"),
      r"name.*one of.*mnist"),
    C("data", "labels_of a list", lambda: data.labels_of([0, 1]), r"dataset.*TensorDataset"),
    C("data", "subset index out of range", lambda: data.subset(FEATURES, [0, 40]), r"indices.*\[0, 39\]"),
    C("data", "subset negative index", lambda: data.subset(FEATURES, [-1]), r"indices.*\[0, 39\]"),
    C("data", "subset float indices", lambda: data.subset(FEATURES, [0.5, 1.5]), r"indices.*integer"),
    C("data", "subset 2-D indices", lambda: data.subset(FEATURES, [[0, 1]]), r"indices.*1-D"),
    C("data", "subset not a TensorDataset", lambda: data.subset([1, 2, 3], [0]), r"dataset.*TensorDataset"),
    # --- training ----------------------------------------------------------------------------
    C("training", "train epochs zero", lambda: training.train(model_fn(), FEATURES, epochs=0),
      r"epochs.*positive integer"),
    C("training", "train epochs fractional", lambda: training.train(model_fn(), FEATURES, epochs=1.5),
      r"epochs.*positive integer"),
    C("training", "train epochs bool", lambda: training.train(model_fn(), FEATURES, epochs=True),
      r"epochs.*positive integer"),
    C("training", "train steps zero", lambda: training.train(model_fn(), FEATURES, steps=0),
      r"steps.*positive integer"),
    C("training", "train steps fractional", lambda: training.train(model_fn(), FEATURES, steps=2.5),
      r"steps.*positive integer"),
    C("training", "train batch_size zero", lambda: training.train(model_fn(), FEATURES, batch_size=0),
      r"batch_size.*positive integer"),
    C("training", "train batch_size fractional", lambda: training.train(model_fn(), FEATURES, batch_size=2.5),
      r"batch_size.*positive integer"),
    C("training", "train lr negative", lambda: training.train(model_fn(), FEATURES, lr=-1), r"lr.*> 0"),
    C("training", "train lr NaN", lambda: training.train(model_fn(), FEATURES, lr=NAN), r"lr.*finite"),
    C("training", "train lr inf", lambda: training.train(model_fn(), FEATURES, lr=INF), r"lr.*finite"),
    C("training", "train lr str", lambda: training.train(model_fn(), FEATURES, lr="0.1"), r"lr.*number"),
    C("training", "train proximal_mu negative", lambda: training.train(model_fn(), FEATURES, proximal_mu=-0.1),
      r"proximal_mu.*>= 0"),
    C("training", "train proximal_mu NaN", lambda: training.train(model_fn(), FEATURES, proximal_mu=NAN),
      r"proximal_mu.*>= 0"),
    C("training", "train seed negative", lambda: training.train(model_fn(), FEATURES, seed=-1), r"seed.*integer >= 0"),
    C("training", "train data empty", lambda: training.train(model_fn(), EMPTY), r"data is empty"),
    C("training", "train data a list", lambda: training.train(model_fn(), [(1, 2)]), r"data.*TensorDataset"),
    C("training", "train model None", lambda: training.train(None, FEATURES), r"model.*nn\.Module"),
    C("training", "train inputs do not fit the model", lambda: training.train(model_fn(), IMAGES),
      r"data.*input.*\(1, 8, 8\).*model"),
    C("training", "train label outside the model's classes",
      lambda: training.train(models.make_model("logistic", (1, 8, 8), 2),
                             TensorDataset(IMAGES.tensors[0], torch.arange(8) % 4)), r"data.*labels.*\[0, 1\]"),
    C("training", "evaluate batch_size zero", lambda: training.evaluate(model_fn(), FEATURES, batch_size=0),
      r"batch_size.*positive integer"),
    C("training", "evaluate data empty", lambda: training.evaluate(model_fn(), EMPTY), r"data is empty"),
    C("training", "evaluate inputs do not fit the model", lambda: training.evaluate(model_fn(), IMAGES),
      r"data.*input.*model"),
    C("training", "batches batch_size zero", lambda: list(training.batches(FEATURES, 0, torch.Generator())),
      r"batch_size.*positive integer"),
    C("training", "sgd_step lr NaN", lambda: training.sgd_step(model_fn(), NAN), r"lr.*finite"),
    C("training", "proximal_term mu negative",
      lambda: training.proximal_term(MODEL, [p.detach() for p in MODEL.parameters()], -1.0), r"mu.*>= 0"),
    # --- evaluation --------------------------------------------------------------------------
    C("evaluation", "evaluate_parameters model_fn not callable",
      lambda: evaluation.evaluate_parameters("mlp", PARAMS, FEATURES), r"model_fn.*callable"),
    C("evaluation", "evaluate_parameters wrong count",
      lambda: evaluation.evaluate_parameters(model_fn, PARAMS[:1], FEATURES), r"parameters.*2 arrays"),
    C("evaluation", "make_evaluate_fn test_data empty", lambda: evaluation.make_evaluate_fn(model_fn, EMPTY),
      r"test_data is empty"),
    C("evaluation", "make_evaluate_fn test_data a list", lambda: evaluation.make_evaluate_fn(model_fn, [1, 2]),
      r"test_data.*TensorDataset"),
    C("evaluation", "make_evaluate_fn model_fn None", lambda: evaluation.make_evaluate_fn(None, FEATURES),
      r"model_fn.*callable"),
    C("evaluation", "evaluate_clients cids an int", lambda: evaluation.evaluate_clients(CLIENT_FN, 3, PARAMS),
      r"cids.*list"),
    C("evaluation", "evaluate_clients unknown cid", lambda: evaluation.evaluate_clients(CLIENT_FN, [0, 99], PARAMS),
      r"cid.*\[0, 3\]"),
    C("evaluation", "per_class_accuracy num_classes too small",
      lambda: evaluation.per_class_accuracy(model_fn, PARAMS, FEATURES, 1), r"num_classes.*exceed"),
    C("evaluation", "per_class_accuracy num_classes fractional",
      lambda: evaluation.per_class_accuracy(model_fn, PARAMS, FEATURES, 2.5), r"num_classes.*integer"),
    C("evaluation", "per_class_accuracy data empty", lambda: evaluation.per_class_accuracy(model_fn, PARAMS, EMPTY, 2),
      r"data is empty"),
    # --- plotting ----------------------------------------------------------------------------
    C("plotting", "plot_label_distribution 1-D", lambda: plotting.plot_label_distribution(np.arange(4)),
      r"counts.*2-D"),
    C("plotting", "plot_label_distribution empty", lambda: plotting.plot_label_distribution(np.zeros((0, 4))),
      r"counts.*at least one"),
    C("plotting", "plot_label_distribution negative", lambda: plotting.plot_label_distribution(-np.ones((2, 2))),
      r"counts.*>= 0"),
    C("plotting", "plot_history runs a str", lambda: plotting.plot_history("history"), r"runs.*History"),
    C("plotting", "plot_history runs holds a non-History", lambda: plotting.plot_history({"a": [0.5, 0.6]}),
      r"runs\['a'\].*History"),
    C("plotting", "plot_history unknown kind", lambda: plotting.plot_history(HISTORY, kind="server"),
      r"kind.*one of.*centralized"),
    C("plotting", "plot_history unknown metric", lambda: plotting.plot_history(HISTORY, metric="f1"),
      r"metric.*'f1'.*accuracy", (ValueError, TypeError, KeyError)),
    C("plotting", "plot_band runs empty list", lambda: plotting.plot_band({"a": []}), r"runs\['a'\].*empty"),
    C("plotting", "plot_band runs holds numbers", lambda: plotting.plot_band({"a": [0.5, 0.6]}),
      r"runs\['a'\].*History"),
    C("plotting", "plot_band runs a History", lambda: plotting.plot_band(HISTORY), r"runs.*\{label: \[History"),
    C("plotting", "plot_summaries a float", lambda: plotting.plot_summaries({"a": 0.9}), r"summaries\['a'\].*Summary"),
    C("plotting", "plot_summaries empty", lambda: plotting.plot_summaries({}), r"summaries.*at least one"),
    C("plotting", "plot_client_metrics empty", lambda: plotting.plot_client_metrics([]), r"values.*at least one"),
    C("plotting", "plot_client_metrics strings", lambda: plotting.plot_client_metrics(["a", "b"]), r"values.*numbers"),
    C("plotting", "plot_client_metrics reference str", lambda: plotting.plot_client_metrics([0.5], reference="0.9"),
      r"reference.*number"),
    # --- exercises.core ----------------------------------------------------------------------
    C("exercises.core", "check_function trials zero", lambda: core.check_function(square, square, one_input, trials=0),
      r"trials.*positive integer"),
    C("exercises.core", "check_function trials fractional",
      lambda: core.check_function(square, square, one_input, trials=2.5), r"trials.*positive integer"),
    C("exercises.core", "check_function reference_fn None", lambda: core.check_function(square, None, one_input),
      r"reference_fn.*callable"),
    C("exercises.core", "check_function make_inputs a tuple", lambda: core.check_function(square, square, (1.0,)),
      r"make_inputs.*callable"),
    C("exercises.core", "check_function atol negative", lambda: core.check_function(square, square, one_input, atol=-1),
      r"atol.*>= 0"),
    C("exercises.core", "check_value atol NaN", lambda: core.check_value(1.0, 1.0, "why", atol=NAN), r"atol.*finite"),
    C("exercises.core", "difference atol str", lambda: core.difference(1.0, 1.0, atol="0.1"), r"atol.*number"),
    # --- aggregate (loop) --------------------------------------------------------------------
    C("aggregate", "fedavg no results", lambda: aggregate.fedavg([]), r"results.*at least one"),
    C("aggregate", "fedavg results None", lambda: aggregate.fedavg(None), r"results"),
    C("aggregate", "fedavg num_examples zero", lambda: aggregate.fedavg([(PARAMS, 0), (PARAMS, 1)]),
      r"num_examples.*positive integer"),
    C("aggregate", "fedavg num_examples fractional", lambda: aggregate.fedavg([(PARAMS, 2.5), (PARAMS, 1)]),
      r"num_examples.*positive integer"),
    C("aggregate", "fedavg mismatched shapes", lambda: aggregate.fedavg([(PARAMS, 1), (wrong_shape_params(), 1)]),
      r"parameters\[0\].*shape"),
    C("aggregate", "fedavg mismatched lengths", lambda: aggregate.fedavg([(PARAMS, 1), (PARAMS[:1], 1)]),
      r"parameters must hold 2 arrays"),
    C("aggregate", "fedavg NaN update", lambda: aggregate.fedavg([(PARAMS, 1), (nan_params(), 1)]), r"NaN"),
    C("aggregate", "median no results", lambda: aggregate.median([]), r"results.*at least one"),
    C("aggregate", "trimmed_mean trim_fraction 0.5", lambda: aggregate.trimmed_mean(RESULTS, 0.5),
      r"trim_fraction.*\[0, 0\.5\)"),
    C("aggregate", "trimmed_mean trim_fraction NaN", lambda: aggregate.trimmed_mean(RESULTS, NAN),
      r"trim_fraction.*\[0, 0\.5\)"),
    C("aggregate", "trimmed_mean trim_fraction str", lambda: aggregate.trimmed_mean(RESULTS, "0.1"),
      r"trim_fraction.*number"),
    C("aggregate", "weighted_mean unequal lengths", lambda: aggregate.weighted_mean([0.5, 0.6], [1]),
      r"values and weights.*equal length"),
    C("aggregate", "weighted_mean negative weight", lambda: aggregate.weighted_mean([0.5, 0.6], [1, -1]),
      r"weights.*non-negative"),
    C("aggregate", "weighted_mean NaN value", lambda: aggregate.weighted_mean([NAN, 0.6], [1, 1]), r"values.*finite"),
    # --- client (lead) -----------------------------------------------------------------------
    C("client", "fit learning_rate negative", lambda: CLIENT.fit(PARAMS, {"learning_rate": -1}),
      r"learning_rate.*> 0"),
    C("client", "fit unknown key lr", lambda: CLIENT.fit(PARAMS, {"lr": 0.1}),
      r"unknown key.*'lr'.*allowed.*learning_rate"),
    C("client", "fit local_epochs fractional", lambda: CLIENT.fit(PARAMS, {"local_epochs": 1.5}),
      r"local_epochs.*positive integer"),
    C("client", "fit batch_size bool", lambda: CLIENT.fit(PARAMS, {"batch_size": True}),
      r"batch_size.*positive integer"),
    C("client", "fit config None", lambda: CLIENT.fit(PARAMS, None), r"config.*dict"),
    C("client", "fit NaN parameters", lambda: CLIENT.fit(nan_params(), {}), r"parameters\[0\].*NaN"),
    C("client", "evaluate without test data",
      lambda: client.Client(0, model_fn, FEATURES, None).evaluate(PARAMS, {}), r"test_data"),
    C("client", "Client train_data empty", lambda: client.Client(0, model_fn, EMPTY), r"train_data is empty"),
    C("client", "Client train_data None", lambda: client.Client(0, model_fn, None), r"train_data.*TensorDataset"),
    C("client", "split_local test_fraction one", lambda: client.split_local(np.arange(10), 1.0, 0),
      r"test_fraction.*\[0, 1\)"),
    C("client", "split_local test_fraction NaN", lambda: client.split_local(np.arange(10), NAN, 0),
      r"test_fraction.*\[0, 1\)"),
    C("client", "make_client_fn empty partition", lambda: client.make_client_fn(FEATURES, [[0, 1], []], model_fn),
      r"partitions\[1\].*empty"),
    C("client", "make_client_fn test_fraction 1.5", lambda: client.make_client_fn(FEATURES, PARTS, model_fn, 1.5),
      r"test_fraction.*\[0, 1\)"),
    C("client", "client_fn cid out of range", lambda: CLIENT_FN(4), r"cid.*\[0, 3\]"),
    C("client", "client_fn cid fractional", lambda: CLIENT_FN(1.5), r"cid.*integer"),
    C("client", "client_seed negative seed", lambda: client.client_seed(-1, 0, 1), r"seed.*>= 0"),
    # --- compression (unassigned) --------------------------------------------------------------
    C("compression", "quantize bits 3", lambda: compression.quantize(PARAMS, bits=3), r"bits.*one of 1, 2, 4, 8, 16"),
    C("compression", "quantize NaN update", lambda: compression.quantize(nan_params()), r"update.*NaN|finite"),
    C("compression", "top_k fraction zero", lambda: compression.top_k(PARAMS, fraction=0.0), r"fraction.*\(0, 1\]"),
    C("compression", "top_k fraction NaN", lambda: compression.top_k(PARAMS, fraction=NAN), r"fraction.*\(0, 1\]"),
    C("compression", "top_k neither fraction nor k", lambda: compression.top_k(PARAMS),
      r"exactly one of fraction and k"),
    C("compression", "top_k k fractional", lambda: compression.top_k(PARAMS, k=2.5), r"k.*integer"),
    C("compression", "compress_update unknown method", lambda: compression.compress_update(PARAMS, "zip"),
      r"method.*one of.*quantize"),
    # --- strategy (loop) ---------------------------------------------------------------------
    C("strategy", "FedAvg fraction_fit zero", lambda: strategy.FedAvg(fraction_fit=0), r"fraction_fit.*\(0, 1\]"),
    C("strategy", "FedAvg fraction_fit 1.5", lambda: strategy.FedAvg(fraction_fit=1.5), r"fraction_fit.*\(0, 1\]"),
    C("strategy", "FedAvg fraction_fit NaN", lambda: strategy.FedAvg(fraction_fit=NAN), r"fraction_fit.*\(0, 1\]"),
    C("strategy", "FedAvg fraction_fit str", lambda: strategy.FedAvg(fraction_fit="0.5"), r"fraction_fit.*number"),
    C("strategy", "FedAvg fraction_evaluate negative", lambda: strategy.FedAvg(fraction_evaluate=-0.1),
      r"fraction_evaluate.*\[0, 1\]"),
    C("strategy", "FedAvg min_fit_clients zero", lambda: strategy.FedAvg(min_fit_clients=0),
      r"min_fit_clients.*(at least 1|>= 1)"),
    C("strategy", "FedAvg min_fit_clients fractional", lambda: strategy.FedAvg(min_fit_clients=2.5),
      r"min_fit_clients.*integer"),
    C("strategy", "FedAvg min_available_clients None", lambda: strategy.FedAvg(min_available_clients=None),
      r"min_available_clients.*integer"),
    C("strategy", "FedAvg population too small", lambda: strategy.FedAvg(min_fit_clients=5).check_population(4),
      r"min_fit_clients.*at most num_clients"),
    C("strategy", "FedProx proximal_mu negative", lambda: strategy.FedProx(proximal_mu=-1), r"proximal_mu.*>= 0"),
    C("strategy", "FedProx proximal_mu inf", lambda: strategy.FedProx(proximal_mu=INF), r"proximal_mu.*>= 0"),
    C("strategy", "FedAvgM server_momentum one", lambda: strategy.FedAvgM(server_momentum=1.0),
      r"server_momentum.*\[0, 1\)"),
    C("strategy", "FedAvgM server_learning_rate zero", lambda: strategy.FedAvgM(server_learning_rate=0),
      r"server_learning_rate.*> 0"),
    C("strategy", "FedAdam eta zero", lambda: strategy.FedAdam(eta=0), r"eta.*> 0"),
    C("strategy", "FedAdam beta_2 one", lambda: strategy.FedAdam(beta_2=1.0), r"beta_2.*\[0, 1\)"),
    C("strategy", "FedTrimmedAvg trim_fraction 0.5", lambda: strategy.FedTrimmedAvg(trim_fraction=0.5),
      r"trim_fraction.*\[0, 0\.5\)"),
    C("strategy", "CompressedFedAvg unknown compression", lambda: compression.CompressedFedAvg(compression="zip"),
      r"compression.*one of"),
    C("strategy", "CompressedFedAvg bits 3", lambda: compression.CompressedFedAvg(bits=3), r"bits.*one of"),
    C("strategy", "CompressedFedAvg fraction zero",
      lambda: compression.CompressedFedAvg(compression="top_k", fraction=0), r"fraction.*\(0, 1\]"),
    C("strategy", "DeadlineFedAvg unknown policy", lambda: faults.DeadlineFedAvg(policy="wait-all"),
      r"policy.*one of.*wait"),
    C("strategy", "DeadlineFedAvg deadline zero", lambda: faults.DeadlineFedAvg(deadline=0), r"deadline.*> 0"),
    C("strategy", "DeadlineFedAvg deadline inf", lambda: faults.DeadlineFedAvg(deadline=INF), r"deadline.*> 0"),
    C("strategy", "SecAggFedAvg one client", lambda: secagg.SecAggFedAvg(min_fit_clients=1),
      r"min_fit_clients.*at least 2"),
    C("strategy", "FedAvgM aggregate_fit without current",
      lambda: strategy.FedAvgM().aggregate_fit(1, [(0, PARAMS, 1, {}), (1, PARAMS, 1, {})], []), r"current"),
    # --- simulation (loop) -------------------------------------------------------------------
    C("simulation", "run_simulation num_clients zero",
      lambda: simulation.run_simulation(CLIENT_FN, 0, 1, strategy.FedAvg(), PARAMS, progress=False),
      POSINT.format("num_clients")),
    C("simulation", "run_simulation num_clients fractional",
      lambda: simulation.run_simulation(CLIENT_FN, 2.5, 1, strategy.FedAvg(), PARAMS, progress=False),
      POSINT.format("num_clients")),
    C("simulation", "run_simulation num_rounds zero",
      lambda: simulation.run_simulation(CLIENT_FN, 4, 0, strategy.FedAvg(), PARAMS, progress=False),
      POSINT.format("num_rounds")),
    C("simulation", "run_simulation num_rounds fractional",
      lambda: simulation.run_simulation(CLIENT_FN, 4, 1.5, strategy.FedAvg(), PARAMS, progress=False),
      POSINT.format("num_rounds")),
    C("simulation", "run_simulation seed negative",
      lambda: simulation.run_simulation(CLIENT_FN, 4, 1, strategy.FedAvg(), PARAMS, seed=-1, progress=False),
      r"seed.*integer >= 0"),
    C("simulation", "run_simulation NaN initial_parameters",
      lambda: simulation.run_simulation(CLIENT_FN, 4, 1, strategy.FedAvg(), nan_params(), progress=False), r"NaN"),
    C("simulation", "run_simulation strategy None",
      lambda: simulation.run_simulation(CLIENT_FN, 4, 1, None, PARAMS, progress=False), r"strategy.*FedAvg"),
    C("simulation", "run_simulation stop_when not callable",
      lambda: simulation.run_simulation(CLIENT_FN, 4, 1, strategy.FedAvg(), PARAMS, progress=False, stop_when=0.9),
      r"stop_when.*(callable|function)"),
    C("simulation", "run_local_only num_rounds zero", lambda: simulation.run_local_only(CLIENT_FN, [0], PARAMS, 0),
      POSINT.format("num_rounds")),
    C("simulation", "History.series unknown kind", lambda: HISTORY.series("accuracy", "server"), r"kind.*one of"),
    C("simulation", "History.rounds_to_reach target NaN", lambda: HISTORY.rounds_to_reach(NAN), r"target.*number"),
    # --- faults (loop) -----------------------------------------------------------------------
    C("faults", "UnreliableClient failure_rate 1.5", lambda: faults.UnreliableClient(CLIENT, 1.5),
      r"failure_rate.*\[0, 1\]"),
    C("faults", "make_unreliable failure_rate NaN", lambda: faults.make_unreliable(CLIENT_FN, NAN),
      r"failure_rate.*\[0, 1\]"),
    C("faults", "client_speeds num_clients zero", lambda: faults.client_speeds(0), POSINT.format("num_clients")),
    C("faults", "client_speeds num_clients fractional", lambda: faults.client_speeds(2.5), r"num_clients.*integer"),
    C("faults", "client_speeds median zero", lambda: faults.client_speeds(4, median=0), r"median.*> 0"),
    C("faults", "TimedClient speed zero", lambda: faults.TimedClient(CLIENT, 0), r"speed.*> 0"),
    C("faults", "make_timed negative speed", lambda: faults.make_timed(CLIENT_FN, np.array([1.0, -1.0, 1.0, 1.0])),
      r"speeds.*> 0"),
    C("faults", "PoisonedClient scale NaN", lambda: faults.PoisonedClient(CLIENT, NAN), r"scale.*finite"),
    C("faults", "PoisonedClient scale str", lambda: faults.PoisonedClient(CLIENT, "x"), r"scale.*number"),
    C("faults", "make_poisoned bad_cids None", lambda: faults.make_poisoned(CLIENT_FN, None), r"bad_cids"),
    # --- replicate (lead) --------------------------------------------------------------------
    C("replicate", "repeat no seeds", lambda: replicate.repeat(lambda s: {"a": 1.0}, []), r"seeds.*at least one"),
    C("replicate", "repeat fractional seed", lambda: replicate.repeat(lambda s: {"a": 1.0}, [0, 1.5]),
      r"seeds.*integers >= 0"),
    C("replicate", "repeat repeated seed", lambda: replicate.repeat(lambda s: {"a": 1.0}, [1, 1]), r"seeds.*distinct"),
    C("replicate", "Summary NaN value", lambda: replicate.Summary(np.array([NAN, 0.5]), (0, 1)), r"values.*finite"),
    C("replicate", "Summary values and seeds differ", lambda: replicate.Summary(np.array([0.5]), (0, 1)),
      r"values.*one number per seed"),
    C("replicate", "compare a a float", lambda: replicate.compare(0.9, SUMMARY), r"a must be a Summary"),
    C("replicate", "compare b NaN", lambda: replicate.compare(SUMMARY, NAN), r"b must be a Summary or a finite number"),
    C("replicate", "compare other seeds", lambda: replicate.compare(SUMMARY, replicate.Summary(np.ones(3), (3, 4, 5))),
      r"same seeds"),
    C("replicate", "assert_greater min_wins zero", lambda: replicate.assert_greater(SUMMARY, 0.1, "claim", min_wins=0),
      r"min_wins.*\[1, 3\]"),
    C("replicate", "assert_greater margin inf", lambda: replicate.assert_greater(SUMMARY, 0.1, "claim", margin=INF),
      r"margin.*finite"),
    # --- privacy (dp) ------------------------------------------------------------------------
    C("privacy", "laplace_count epsilon zero", lambda: privacy.laplace_count(5, 0.0, RNG), r"epsilon.*positive"),
    C("privacy", "laplace_count epsilon NaN", lambda: privacy.laplace_count(5, NAN, RNG), r"epsilon.*finite"),
    C("privacy", "laplace_count negative count", lambda: privacy.laplace_count(-1, 1.0, RNG), r"data.*non-negative"),
    C("privacy", "laplace_count integer array", lambda: privacy.laplace_count(np.array([1, 2]), 1.0, RNG),
      r"data.*boolean"),
    C("privacy", "gaussian_sigma delta zero", lambda: privacy.gaussian_sigma(1.0, 0.0), r"delta"),
    C("privacy", "gaussian_sigma delta one", lambda: privacy.gaussian_sigma(1.0, 1.0), r"delta"),
    C("privacy", "gaussian_sigma unknown method", lambda: privacy.gaussian_sigma(1.0, 1e-5, "exact"),
      r"method.*one of.*analytic"),
    C("privacy", "gaussian_mechanism sigma negative", lambda: privacy.gaussian_mechanism(1.0, 1.0, -1.0, RNG),
      r"sigma.*>= 0"),
    C("privacy", "clip_update clip_norm zero", lambda: privacy.clip_update(PARAMS, 0.0), r"clip_norm.*positive"),
    C("privacy", "clip_update NaN update", lambda: privacy.clip_update(nan_params(), 1.0),
      r"update.*NaN|update.*finite"),
    C("privacy", "add_noise std negative", lambda: privacy.add_noise(PARAMS, -1.0, RNG), r"std.*>= 0"),
    C("privacy", "noise_rng stream negative", lambda: privacy.noise_rng(0, 1, -1), r"stream"),
    C("privacy", "DPFedAvg unknown mode", lambda: privacy.DPFedAvg(mode="global"), r"mode.*one of.*central"),
    C("privacy", "DPFedAvg clip_norm negative", lambda: privacy.DPFedAvg(clip_norm=-1.0), r"clip_norm.*positive"),
    C("privacy", "DPFedAvg noise_multiplier NaN", lambda: privacy.DPFedAvg(noise_multiplier=NAN), r"noise_multiplier"),
    C("privacy", "dp_fedavg_epsilon sampling_rate 1.5", lambda: privacy.dp_fedavg_epsilon(1.0, 1.5, 10, 1e-5),
      r"sampling_rate"),
    C("privacy", "dp_fedavg_epsilon num_rounds fractional", lambda: privacy.dp_fedavg_epsilon(1.0, 0.1, 2.5, 1e-5),
      r"num_rounds.*integer"),
    C("privacy", "local_dp_epsilon noise_multiplier negative", lambda: privacy.local_dp_epsilon(-1.0, 10, 1e-5),
      r"noise_multiplier"),
    # --- secagg (secagg) ---------------------------------------------------------------------
    C("secagg", "check_fixed_point bits 65", lambda: secagg.check_fixed_point(65, 16), r"bits.*\[2, 64\]"),
    C("secagg", "check_fixed_point fraction_bits >= bits", lambda: secagg.check_fixed_point(16, 16),
      r"fraction_bits.*\[0, 15\]"),
    C("secagg", "check_threshold half", lambda: secagg.check_threshold(2, 4), r"threshold.*\[3, 4\]"),
    C("secagg", "check_threshold one client", lambda: secagg.check_threshold(1, 1), r"at least 2 clients"),
    C("secagg", "max_bound num_clients zero", lambda: secagg.max_bound(0), r"num_clients.*positive integer"),
    C("secagg", "encode NaN", lambda: secagg.encode(np.array([NAN])), r"x contains NaN"),
    C("secagg", "encode out of bound", lambda: secagg.encode(np.array([5.0]), bound=1.0),
      r"x.*outside \[-bound, bound\]"),
    C("secagg", "shamir_split threshold zero", lambda: secagg.shamir_split(5, 0, 3), r"threshold.*\[1, num_shares\]"),
    C("secagg", "shamir_split num_shares fractional", lambda: secagg.shamir_split(5, 1, 2.5),
      r"num_shares.*positive integer"),
    C("secagg", "shamir_combine no shares", lambda: secagg.shamir_combine([]), r"shares.*non-empty"),
    C("secagg", "secure_sum one vector", lambda: secagg.secure_sum([np.zeros(3)], threshold=1), r"vectors.*at least 2"),
    C("secagg", "secure_sum mismatched shapes", lambda: secagg.secure_sum([np.zeros(3), np.zeros(4)], threshold=2),
      r"vectors\[1\].*shape"),
    C("secagg", "random_bytes negative", lambda: secagg.random_bytes(-1), r"num_bytes"),
    # --- flower (flower) ---------------------------------------------------------------------
    C("flower", "superlink_command port zero", lambda: flower_processes.superlink_command(0), r"port.*1 to 65535"),
    C("flower", "superlink_command port str", lambda: flower_processes.superlink_command("9092"), r"port.*integer"),
    C("flower", "superlink_command port bool", lambda: flower_processes.superlink_command(True), r"port.*integer"),
    C("flower", "supernode_command partition_id too large",
      lambda: flower_processes.supernode_command(9091, 9094, 2, 2), r"partition_id.*\[0, 1\]"),
    C("flower", "write_flower_config no connections", lambda: flower_processes.write_flower_config(Path("unused"), {}),
      r"connections.*at least one"),
    C("flower", "write_flower_config bad name",
      lambda: flower_processes.write_flower_config(Path("unused"), {"a b]": 9093}), r"connection name"),
    C("flower", "config_args bad value type", lambda: flower_processes.config_args("--run-config", {"rounds": [1, 2]}),
      r"run config values must be bool, int, float or str"),
    C("flower", "config_args bad key", lambda: flower_processes.config_args("--run-config", {"a b": 1}),
      r"keys must be"),
    # --- more of the API: the rarer functions ------------------------------------------------
    C("client", "fit parameters None", lambda: CLIENT.fit(None, {}), r"parameters.*list"),
    C("client", "evaluate unknown config key", lambda: CLIENT.evaluate(PARAMS, {"batch_size": 8}),
      r"unknown key.*batch_size.*allowed"),
    C("client", "Client model_fn None", lambda: client.Client(0, None, FEATURES), r"model_fn.*callable"),
    C("compression", "quantize update None", lambda: compression.quantize(None), r"update.*list"),
    C("compression", "top_k k zero", lambda: compression.top_k(PARAMS, k=0), r"k must be in \[1, 10\]"),
    C("compression", "top_k fraction 1.5", lambda: compression.top_k(PARAMS, fraction=1.5), r"fraction.*\(0, 1\]"),
    C("simulation", "History.final unknown kind", lambda: HISTORY.final("accuracy", "server"), r"kind.*one of"),
    C("simulation", "run_local_only cids None", lambda: simulation.run_local_only(CLIENT_FN, None, PARAMS, 1), r"cids"),
    C("replicate", "repeat experiment not callable", lambda: replicate.repeat({"a": 1.0}, [0, 1]),
      r"experiment.*callable"),
    C("replicate", "assert_less min_wins fractional",
      lambda: replicate.assert_less(SUMMARY, 2.0, "claim", min_wins=2.5), r"min_wins.*integer"),
    C("privacy", "poisson_sample num_clients zero", lambda: privacy.poisson_sample(0, 0.5, RNG), r"num_clients"),
    C("privacy", "poisson_sample sampling_rate 1.5", lambda: privacy.poisson_sample(10, 1.5, RNG), r"sampling_rate"),
    C("privacy", "gaussian_mechanism rng None", lambda: privacy.gaussian_mechanism(1.0, 1.0, 1.0, None), r"rng"),
    C("privacy", "noise_multiplier_for_epsilon target zero",
      lambda: privacy.noise_multiplier_for_epsilon(0.0, 0.1, 10, 1e-5), r"target_epsilon.*positive"),
    C("privacy", "noise_rng seed negative", lambda: privacy.noise_rng(-1, 1, 0), r"seed"),
    C("privacy", "update_norms client_fn None", lambda: privacy.update_norms(None, [0], PARAMS, {}), r"client_fn"),
    C("privacy", "update_norms negative cid", lambda: privacy.update_norms(CLIENT_FN, [-1], PARAMS, {}), r"cids"),
    C("secagg", "decode bits one", lambda: secagg.decode(np.zeros(2, dtype=np.uint64), bits=1), r"bits.*\[2, 64\]"),
    C("secagg", "shamir_split secret negative", lambda: secagg.shamir_split(-1, 1, 2), r"secret.*\[0, PRIME\)"),
    C("secagg", "share_bytes secret too long", lambda: secagg.share_bytes(bytes(65), 1, 2),
      r"secret.*at most 64 bytes"),
    C("secagg", "secure_weighted_average one client", lambda: secagg.secure_weighted_average([(PARAMS, 1)], 1),
      r"results.*at least 2"),
    C("secagg", "secure_sum dropped outside", lambda: secagg.secure_sum(VECTORS, 2, dropped={5}), r"dropped.*\[0, 1\]"),
    C("flower", "flwr_run_command bad connection", lambda: flower_processes.flwr_run_command("app", "a b"),
      r"connection"),
    C("flower", "wait_until_healthy port too large",
      lambda: flower_processes.wait_until_healthy(70000, None, Path("log")), r"port.*1 to 65535"),
]


def _params() -> list:
    return [
        pytest.param(case, id=f"{case.module}: {case.name}",
                     marks=[pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else [])
        for case in CASES
    ]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # a bad call may warn (NaN casts) before it fails
@pytest.mark.parametrize("case", _params())
def test_bad_call_is_refused_naming_the_argument(case: Case):
    with pytest.raises(case.errors, match=case.match):
        case.call()


# Valid calls at the edges of what the checks allow: the checks must not refuse them.
GOOD_CALLS = {
    "numpy integer counts": lambda: partition.iid(np.int64(10), np.int32(2), seed=np.uint32(7)),
    "dirichlet with a numpy alpha": lambda: partition.dirichlet(LABELS, 4, alpha=np.float32(0.5), min_size=2),
    "label_distribution of empty and tuple partitions":
        lambda: partition.label_distribution(LABELS, ([], np.arange(3))),
    "make_model from a torch.Size": lambda: models.make_model("cnn", torch.Size([1, 8, 8]), 3),
    "subset with no indices": lambda: data.subset(FEATURES, []),
    "train with a numpy learning rate and int lr": lambda: (training.train(model_fn(), FEATURES, lr=np.float32(0.1)),
                                                            training.train(model_fn(), FEATURES, lr=1, steps=1)),
    "proximal_mu zero": lambda: training.train(model_fn(), FEATURES, proximal_mu=0),
    "per-class accuracy NaN bar": lambda: plotting.plot_client_metrics([0.5, NAN], reference=np.float64(0.7)),
    "difference with atol 0": lambda: core.difference([np.ones(2)], [np.ones(2)], atol=0),
    "evaluate_clients with a numpy array of cids": lambda: evaluation.evaluate_clients(CLIENT_FN, np.arange(2), PARAMS),
}


@pytest.mark.parametrize("name", GOOD_CALLS)
def test_valid_edge_call_is_accepted(name: str):
    GOOD_CALLS[name]()


def test_the_battery_is_large_and_its_names_are_unique():
    assert len(CASES) >= 80
    names = [(c.module, c.name) for c in CASES]
    assert len(set(names)) == len(names)


# ----------------------------------------------------------------------------- the report


def classify(case: Case) -> str:
    """How ``case.call()`` fares now: 'clear', 'unclear' (right error, message misses), 'obscure' (other
    error), 'accepted'."""
    try:
        case.call()
    except case.errors as error:
        return "clear" if re.search(case.match, str(error)) else "unclear"
    except Exception:  # noqa: BLE001 - any other error is an obscure rejection
        return "obscure"
    finally:
        plt.close("all")
    return "accepted"


def report() -> float:
    """Print per module: cases, rejected clearly, unclear, obscure, accepted, xfail-marked; return the clear share."""
    rows: dict[str, dict[str, int]] = {}
    for case in CASES:
        row = rows.setdefault(case.module,
                              dict.fromkeys(("cases", "clear", "unclear", "obscure", "accepted", "xfail"), 0))
        row["cases"] += 1
        row[classify(case)] += 1
        row["xfail"] += bool(case.xfail)
    header = f"{'module':16}" + "".join(f"{k:>9}"
                                        for k in ("cases", "clear", "unclear", "obscure", "accepted", "xfail"))
    print(header)
    for module, row in rows.items():
        print(f"{module:16}" + "".join(f"{v:>9}" for v in row.values()))
    total = {k: sum(r[k] for r in rows.values()) for k in next(iter(rows.values()))}
    print(f"{'all':16}" + "".join(f"{v:>9}" for v in total.values()))
    share = total["clear"] / total["cases"]
    print(f"rejected clearly: {total['clear']} of {total['cases']} = {share:.1%}")
    return share


if __name__ == "__main__":
    sys.exit(0 if report() >= 0.95 else 1)
