"""relunet: a small NumPy library for training ReLU networks, written alongside the book."""

from . import data, dropout, gradcheck, info, models
from .dropout import Dropout
from .gradcheck import (
    check_layer,
    check_loss,
    check_network,
    jacobian,
    numerical_gradient,
    numerical_jacobian,
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
    softmax_jacobian,
    softmax_jvp,
)
from .models import accuracy, flat_gradient, flat_parameters, loss_gradient, mlp
from .network import Sequential
from .optim import SGD, sutskever_momentum
from .smooth import Softplus
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
    "Softplus",
    "accuracy",
    "check_layer",
    "check_loss",
    "check_network",
    "data",
    "dropout",
    "evaluate",
    "fit",
    "flat_gradient",
    "flat_parameters",
    "gradcheck",
    "info",
    "jacobian",
    "log_softmax",
    "logsumexp",
    "loss_gradient",
    "mlp",
    "models",
    "numerical_gradient",
    "numerical_jacobian",
    "plotting",
    "relative_error",
    "softmax",
    "softmax_jacobian",
    "softmax_jvp",
    "sutskever_momentum",
    "symbolic",
]
__version__ = "0.1.0"

_LAZY = ("plotting", "symbolic")  # they import matplotlib and SymPy: only when first used


def __getattr__(name: str):
    """``relunet.plotting`` and ``relunet.symbolic``, imported on first access (PEP 562)."""
    if name in _LAZY:
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
