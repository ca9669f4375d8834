"""relunet: a small NumPy library for training ReLU networks, written alongside the book."""

from . import data, dropout, gradcheck, info
from .dropout import Dropout
from .gradcheck import (
    check_layer,
    check_loss,
    check_network,
    jacobian,
    numerical_gradient,
    relative_error,
)
from .layers import Conv1d, Flatten, Layer, Linear, MaxPool1d, ReLU
from .losses import (
    CrossEntropy,
    ExpQuadratic,
    Loss,
    Quadratic,
    SoftmaxQuadratic,
    log_softmax,
    logsumexp,
    softmax,
)
from .network import Sequential
from .optim import SGD, sutskever_momentum
from .train import History, evaluate, fit

__all__ = [
    "SGD",
    "Conv1d",
    "CrossEntropy",
    "Dropout",
    "ExpQuadratic",
    "Flatten",
    "History",
    "Layer",
    "Linear",
    "Loss",
    "MaxPool1d",
    "Quadratic",
    "ReLU",
    "Sequential",
    "SoftmaxQuadratic",
    "check_layer",
    "check_loss",
    "check_network",
    "data",
    "dropout",
    "evaluate",
    "fit",
    "gradcheck",
    "info",
    "jacobian",
    "log_softmax",
    "logsumexp",
    "numerical_gradient",
    "relative_error",
    "softmax",
    "sutskever_momentum",
]
__version__ = "0.1.0"
