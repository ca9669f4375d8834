"""Bad input, by category, against every public constructor and function of layers, network,
losses, gradcheck and data: each must answer with a ValueError that names the argument -- never
a TypeError, an OverflowError, a NumPy error that names nothing, or silence.

The categories: a float (even ``3.0``), a bool, a string, ``None`` or an array where a count is
meant; a bool, a string, ``None``, a complex number or a non-finite value where a real is meant;
an integer or a string where a flag is meant; anything but a ``numpy.random.Generator`` as
``rng``; arrays with NaN or inf, or of a non-numeric dtype, or ragged; a single layer where a list
is meant; a weights file of the wrong kind or with non-finite values.  Hypothesis draws the bad
value; pytest's parameters say where it goes.  Scores up to +-1e4 must give finite results.
"""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
import relunet as rn
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from relunet import data, gradcheck, losses

PROPERTY = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def gen():
    return np.random.default_rng(0)


def raises_naming(name):
    """``pytest.raises(ValueError)`` whose message names ``name`` as a word."""
    return pytest.raises(ValueError, match=rf"(?<![\w.]){re.escape(name)}(?!\w)")


# --------------------------------------------------------------------------- the bad values

_junk = st.sampled_from([None, "3", b"3", [3], (3,), {"n": 3}, 3j, np.array([3]), object()])
NOT_COUNT = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),  # 40.5, 3.0, nan, inf
    st.floats(-100, 100).map(np.float64),
    st.integers(-5, 50).map(float),
    st.booleans(),
    st.just(np.True_),
    st.text(max_size=3),
    _junk,
)
NOT_REAL = st.one_of(
    st.sampled_from([np.nan, np.inf, -np.inf, np.float32(np.nan), np.float64(-np.inf)]),
    st.booleans(),
    st.just(np.False_),
    st.text(max_size=3),
    st.complex_numbers(allow_nan=False, allow_infinity=False).filter(lambda c: c.imag != 0),
    _junk,
)
NOT_REAL_OR_NONE = NOT_REAL.filter(lambda v: v is not None)  # where None means "the default"
NOT_FLAG = st.one_of(
    st.integers(-2, 2), st.floats(0, 1), st.text(max_size=3), _junk.filter(lambda v: v is not None)
)
NOT_FLAG = st.one_of(NOT_FLAG, st.none())
NOT_GENERATOR = st.one_of(
    st.integers(0, 2**32),
    st.none(),
    st.text(max_size=3),
    st.just(np.random.RandomState(0)),  # noqa: NPY002 -- the legacy generator is refused
    st.just(np.random.SeedSequence(0)),
    st.just(np.random.PCG64(0)),
)
NOT_DTYPE = st.sampled_from([None, True, "abc", np.int32, "float16", np.float16, complex, 3, "f8x"])


@st.composite
def poisoned(draw, shape):
    """A float array of ``shape`` with one entry NaN, +inf or -inf."""
    a = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).standard_normal(shape)
    a.flat[draw(st.integers(0, a.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    return a


def non_numeric(shape):
    """Arrays of ``shape`` that are not real numbers (and ragged nested lists)."""
    return st.sampled_from(
        [
            np.full(shape, "a"),
            np.ones(shape, dtype=bool),
            np.full(shape, None, dtype=object),
            np.ones(shape, dtype=complex),
            [[1.0, 2.0], [3.0]],  # ragged
        ]
    )


def bad_array(shape):
    return st.one_of(poisoned(shape), non_numeric(shape))


# --------------------------------------------------------------------------- scalar arguments

COUNTS = {  # name shown to the user -> call with the bad value in that place
    "Linear d_in": ("d_in", lambda v: rn.Linear(v, 3, rng=gen())),
    "Linear d_out": ("d_out", lambda v: rn.Linear(3, v, rng=gen())),
    "Conv1d c_in": ("c_in", lambda v: rn.Conv1d(v, 2, 3, rng=gen())),
    "Conv1d c_out": ("c_out", lambda v: rn.Conv1d(2, v, 3, rng=gen())),
    "Conv1d kernel_size": ("kernel_size", lambda v: rn.Conv1d(2, 2, v, rng=gen())),
    "Conv1d stride": ("stride", lambda v: rn.Conv1d(2, 2, 3, rng=gen(), stride=v)),
    "Conv1d padding": ("padding", lambda v: rn.Conv1d(2, 2, 3, rng=gen(), padding=v)),
    "MaxPool1d kernel_size": ("kernel_size", lambda v: rn.MaxPool1d(v)),
    "MaxPool1d stride": ("stride", lambda v: rn.MaxPool1d(2, stride=v)),
    "mnist1d seed": ("seed", lambda v: data.mnist1d(seed=v)),
    "mnist1d num_samples": ("num_samples", lambda v: data.mnist1d(num_samples=v)),
    "spirals n_per_class": ("n_per_class", lambda v: data.spirals(v, 3, rng=gen())),
    "spirals n_classes": ("n_classes", lambda v: data.spirals(5, v, rng=gen())),
    "one_hot n_classes": ("n_classes", lambda v: data.one_hot(np.array([0, 1]), v)),
}
COUNT_BELOW = {  # the smallest count each accepts
    "Linear d_in": 1,
    "Conv1d kernel_size": 1,
    "Conv1d padding": 0,
    "MaxPool1d stride": 1,
    "mnist1d seed": 0,
    "mnist1d num_samples": 10,
    "spirals n_classes": 2,
    "one_hot n_classes": 1,
}


@PROPERTY
@pytest.mark.parametrize("case", COUNTS)
@given(value=NOT_COUNT)
def test_counts_refuse_non_integers(case, value):
    assume(not (value is None and case == "MaxPool1d stride"))  # None: the kernel size
    name, call = COUNTS[case]
    with raises_naming(name):
        call(value)


@PROPERTY
@pytest.mark.parametrize("case", COUNT_BELOW)
@given(below=st.integers(1, 10**30))
def test_counts_refuse_values_below_their_minimum(case, below):
    name, call = COUNTS[case]
    with raises_naming(name):
        call(COUNT_BELOW[case] - below)


def _fd_args():
    x = np.zeros(3)
    return (lambda: float(np.sum(x**2))), x


REALS = {  # (name, call, strategy of values outside the range, whether None is accepted)
    "Linear scale": ("scale", lambda v: rn.Linear(3, 2, rng=gen(), scale=v), st.floats(max_value=-1e-300), True),
    "mnist1d train_split": ("train_split", lambda v: data.mnist1d(train_split=v), st.floats(1.0, 1e9) | st.floats(-1e9, 0.0), False),
    "spirals noise": ("noise", lambda v: data.spirals(5, rng=gen(), noise=v), st.floats(max_value=-1e-300), False),
    "spirals turns": ("turns", lambda v: data.spirals(5, rng=gen(), turns=v), st.nothing(), False),
    "train_val_split val_fraction": (
        "val_fraction",
        lambda v: data.train_val_split(np.zeros((5, 2)), np.arange(5), v, rng=gen()),
        st.floats(1.0, 1e9) | st.floats(-1e9, 0.0),
        False,
    ),
    "numerical_gradient h": ("h", lambda v: gradcheck.numerical_gradient(*_fd_args(), h=v), st.floats(-1e9, 0.0), False),
    "numerical_jacobian h": ("h", lambda v: gradcheck.numerical_jacobian(*_fd_args(), h=v), st.floats(-1e9, 0.0), False),
    "check_layer h": ("h", lambda v: rn.check_layer(rn.ReLU(), np.ones((1, 2)), gen(), h=v), st.floats(-1e9, 0.0), False),
    "check_layer tol": ("tol", lambda v: rn.check_layer(rn.ReLU(), np.ones((1, 2)), gen(), tol=v), st.floats(-1e9, 0.0), True),
    "check_loss h": ("h", lambda v: rn.check_loss(rn.CrossEntropy(), np.ones((1, 2)), [0], h=v), st.floats(-1e9, 0.0), False),
    "check_loss tol": ("tol", lambda v: rn.check_loss(rn.CrossEntropy(), np.ones((1, 2)), [0], tol=v), st.floats(-1e9, 0.0), True),
    "check_network h": ("h", lambda v: rn.check_network(rn.mlp([2, 2], rng=gen()), rn.CrossEntropy(), np.ones((1, 2)), [0], h=v), st.floats(-1e9, 0.0), False),
    "check_network tol": ("tol", lambda v: rn.check_network(rn.mlp([2, 2], rng=gen()), rn.CrossEntropy(), np.ones((1, 2)), [0], tol=v), st.floats(-1e9, 0.0), True),
}  # fmt: skip


@PROPERTY
@pytest.mark.parametrize("case", REALS)
@given(data_=st.data())
def test_reals_refuse_non_numbers_non_finite_and_out_of_range(case, data_):
    name, call, outside, none_ok = REALS[case]
    value = data_.draw(st.one_of(NOT_REAL_OR_NONE if none_ok else NOT_REAL, outside))
    with raises_naming(name):
        call(value)


def _layer_forward(v):
    rn.Linear(2, 2, rng=gen()).forward(np.ones((1, 2)), train=v)


FLAGS = {
    "Layer.forward train": ("train", _layer_forward),
    "ReLU.forward train": ("train", lambda v: rn.ReLU().forward(np.ones(2), train=v)),
    "Sequential.forward train": ("train", lambda v: rn.mlp([2, 2], rng=gen()).forward(np.ones((1, 2)), train=v)),
    "Sequential.backward input_grad": ("input_grad", lambda v: _net_after_forward().backward(np.ones((1, 2)), input_grad=v)),
    "check_layer train": ("train", lambda v: rn.check_layer(rn.ReLU(), np.ones((1, 2)), gen(), train=v)),
    "mnist1d as_signal": ("as_signal", lambda v: data.mnist1d(as_signal=v)),
}  # fmt: skip


def _net_after_forward():
    net = rn.mlp([2, 2], rng=gen())
    net.forward(np.ones((1, 2)))
    return net


@PROPERTY
@pytest.mark.parametrize("case", FLAGS)
@given(value=NOT_FLAG)
def test_flags_refuse_anything_but_true_and_false(case, value):
    name, call = FLAGS[case]
    with raises_naming(name):
        call(value)


GENERATORS = {
    "Linear": lambda v: rn.Linear(2, 2, rng=v),
    "Conv1d": lambda v: rn.Conv1d(1, 1, 2, rng=v),
    "spirals": lambda v: data.spirals(5, rng=v),
    "train_val_split": lambda v: data.train_val_split(np.zeros((5, 2)), np.arange(5), 0.2, rng=v),
    "check_layer": lambda v: rn.check_layer(rn.ReLU(), np.ones((1, 2)), v),
}


@PROPERTY
@pytest.mark.parametrize("case", GENERATORS)
@given(value=NOT_GENERATOR)
def test_rng_must_be_a_generator(case, value):
    with raises_naming("rng"):
        GENERATORS[case](value)


@PROPERTY
@pytest.mark.parametrize("cls", [rn.Linear, rn.Conv1d])
@given(value=NOT_DTYPE)
def test_dtype_must_be_float32_or_float64(cls, value):
    args = (2, 2) if cls is rn.Linear else (1, 1, 2)
    with raises_naming("dtype"):
        cls(*args, rng=gen(), dtype=value)


# --------------------------------------------------------------------------- arrays


def _layers():
    return {
        "Linear": (rn.Linear(3, 2, rng=gen()), (4, 3)),
        "ReLU": (rn.ReLU(), (4, 3)),
        "Flatten": (rn.Flatten(), (4, 2, 3)),
        "Conv1d": (rn.Conv1d(2, 3, 3, rng=gen(), stride=2, padding=1), (4, 2, 7)),
        "MaxPool1d": (rn.MaxPool1d(2, stride=1), (4, 2, 7)),
    }


@PROPERTY
@pytest.mark.parametrize("name", list(_layers()))
@given(data_=st.data())
def test_layers_refuse_bad_x_and_grad_out(name, data_):
    layer, shape = _layers()[name]
    with raises_naming("x"):
        layer.forward(data_.draw(bad_array(shape)))
    out = layer.forward(np.random.default_rng(1).standard_normal(shape))
    with raises_naming("grad_out"):
        layer.backward(data_.draw(bad_array(out.shape)))


def _cnn():
    r = gen()
    return rn.Sequential(
        [
            rn.Conv1d(1, 2, 3, rng=r),
            rn.ReLU(),
            rn.MaxPool1d(2),
            rn.Flatten(),
            rn.Linear(12, 3, rng=r),
        ]
    )


@PROPERTY
@pytest.mark.parametrize("make", [lambda: rn.mlp([3, 4, 2], rng=gen()), _cnn], ids=["mlp", "cnn"])
@given(data_=st.data())
def test_sequential_refuses_bad_x_and_grad_out(make, data_):
    net = make()
    shape = (5, 3) if len(net.layers) == 3 else (5, 1, 14)
    for call in (net.forward, net, net.predict):
        with raises_naming("x"):
            call(data_.draw(bad_array(shape)))
    z = net.forward(np.ones(shape), train=True)
    for input_grad in (True, False):
        with raises_naming("grad_out"):
            net.backward(data_.draw(bad_array(z.shape)), input_grad=input_grad)


LOSSES = [rn.CrossEntropy(), rn.SoftmaxQuadratic(), rn.Quadratic(), rn.ExpQuadratic()]


@PROPERTY
@pytest.mark.parametrize("loss", LOSSES, ids=repr)
@pytest.mark.parametrize("method", ["__call__", "per_sample", "sample_grad", "grad"])
@given(data_=st.data())
def test_losses_refuse_bad_scores_and_targets(loss, method, data_):
    f = getattr(loss, method)
    with raises_naming("z"):
        f(data_.draw(bad_array((3, 4))), np.array([0, 1, 2]))
    targets = np.full((3, 4), 0.25)
    bad_y = data_.draw(st.one_of(poisoned((3, 4)), st.sampled_from([[[0.5], [0.5, 0.5]], "abc"])))
    with raises_naming("y"):
        f(np.zeros((3, 4)), bad_y)
    assert np.all(np.isfinite(f(np.zeros((3, 4)), targets)))


FUNCTIONS = {  # functions of arrays: name of the argument -> call with the bad array there
    "softmax z": ("z", lambda a: rn.softmax(a)),
    "log_softmax z": ("z", lambda a: rn.log_softmax(a)),
    "logsumexp z": ("z", lambda a: rn.logsumexp(a)),
    "softmax_jvp p": ("p", lambda a: rn.softmax_jvp(a, np.ones((3, 4)))),
    "softmax_jvp u": ("u", lambda a: rn.softmax_jvp(np.full((3, 4), 0.25), a)),
    "softmax_jacobian p": ("p", lambda a: rn.softmax_jacobian(a)),
    "relative_error a": ("a", lambda a: rn.relative_error(a, np.ones((3, 4)))),
    "relative_error b": ("b", lambda a: rn.relative_error(np.ones((3, 4)), a)),
    "check_layer x": ("x", lambda a: rn.check_layer(rn.ReLU(), a, gen())),
    "check_loss z": ("z", lambda a: rn.check_loss(rn.CrossEntropy(), a, np.zeros(3, int))),
    "check_network x": ("x", lambda a: rn.check_network(rn.mlp([4, 2], rng=gen()), rn.CrossEntropy(), a, np.zeros(3, int))),
    "jacobian x": ("x", lambda a: rn.jacobian(rn.ReLU(), a)),
    "train_val_split x": ("x", lambda a: data.train_val_split(a, np.arange(3), 0.5, rng=gen())),
    "train_val_split y": ("y", lambda a: data.train_val_split(np.zeros((3, 4)), a, 0.5, rng=gen())),
    "Dataset x": ("x", lambda a: data.Dataset(a, np.zeros(3, int), np.zeros((1, 4)), np.zeros(1, int))),
    "Dataset x_test": ("x_test", lambda a: data.Dataset(np.zeros((1, 4)), np.zeros(1, int), a, np.zeros(3, int))),
}  # fmt: skip


@PROPERTY
@pytest.mark.parametrize("case", FUNCTIONS)
@given(data_=st.data())
def test_functions_refuse_non_finite_and_non_numeric_arrays(case, data_):
    name, call = FUNCTIONS[case]
    with raises_naming(name):
        call(data_.draw(bad_array((3, 4))))


@PROPERTY
@given(
    f=st.sampled_from(
        [lambda: np.nan, lambda: np.inf, lambda: "1", lambda: None, lambda: np.ones(2), lambda: 1j]
    )
)
def test_numerical_gradient_refuses_a_function_without_a_finite_real_value(f):
    with raises_naming("f"):
        gradcheck.numerical_gradient(f, np.zeros(2))


@pytest.mark.parametrize("bad", [None, 3, "f", np.zeros(2)])
def test_numerical_gradient_refuses_a_non_callable(bad):
    with raises_naming("f"):
        gradcheck.numerical_gradient(bad, np.zeros(2))


@pytest.mark.parametrize("bad", [[0.0, 1.0], np.zeros(2, np.float32), np.array([np.nan, 1.0])])
def test_numerical_gradient_refuses_x_it_cannot_perturb(bad):
    with raises_naming("x"):
        gradcheck.numerical_gradient(lambda: 0.0, bad)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: rn.check_layer(np.tanh, np.ones((1, 2)), gen()), "layer"),
        (lambda: rn.jacobian("ReLU", np.ones((1, 2))), "layer"),
        (lambda: rn.check_loss(np.mean, np.ones((1, 2)), [0]), "loss"),
        (lambda: rn.check_network([rn.ReLU()], rn.CrossEntropy(), np.ones((1, 2)), [0]), "net"),
        (lambda: rn.jacobian(rn.Linear(2, 2, rng=gen()), np.ones((1, 2)), wrt=0), "wrt"),
        (lambda: rn.softmax(np.ones((2, 3)), axis=1.0), "axis"),
        (lambda: rn.softmax(np.ones((2, 3)), axis=True), "axis"),
        (lambda: rn.logsumexp(np.ones((2, 3)), axis=2), "axis"),
        (lambda: rn.log_softmax(np.ones((2, 0))), "z"),
        (lambda: rn.softmax(3.0), "z"),
        (lambda: rn.relative_error(np.zeros(0), np.zeros(0)), "a"),
    ],
)
def test_wrong_kinds_of_objects_are_named(call, name):
    with raises_naming(name):
        call()


# --------------------------------------------------------------------------- Sequential


@pytest.mark.parametrize(
    "bad",
    [rn.Linear(2, 2, rng=gen()), rn.ReLU(), "relu", b"x", 3, None, {"0": rn.ReLU()}, [], [np.tanh]],
    ids=repr,
)
def test_sequential_wants_a_list_of_layers(bad):
    with raises_naming("layers"):
        rn.Sequential(bad)


def test_sequential_names_the_single_layer_it_was_given():
    with pytest.raises(ValueError, match=r"got a single Linear: write Sequential\(\[layer\]\)"):
        rn.Sequential(rn.Linear(40, 10, rng=gen()))


# --------------------------------------------------------------------------- weights files

CORRUPTIONS = ["npy", "text", "pickle", "zip garbage", "empty", "object array", "strings", "bool"]


def _weights_file(tmp_path, kind, state, draw):
    path = tmp_path / f"w-{kind}.bin"
    if kind == "npy":
        np.save(open(path, "wb"), np.ones(3))  # noqa: SIM115
    elif kind == "text":
        path.write_text("0.W 1 2 3\n")
    elif kind == "pickle":
        import pickle

        path.write_bytes(pickle.dumps(state))
    elif kind == "zip garbage":
        path.write_bytes(b"PK\x03\x04" + bytes(draw(st.binary(max_size=40))))
    elif kind == "empty":
        path.write_bytes(b"")
    else:
        key = draw(st.sampled_from(sorted(state)))
        shape = state[key].shape
        bad = {
            "object array": np.full(shape, None, dtype=object),
            "strings": np.full(shape, "1.0"),
            "bool": np.ones(shape, dtype=bool),
        }[kind]
        with open(path, "wb") as f:
            np.savez(f, **{**state, key: bad})
    return path


@PROPERTY
@given(kind=st.sampled_from(CORRUPTIONS), data_=st.data())
def test_load_refuses_files_of_the_wrong_kind_and_loads_nothing(tmp_path, kind, data_):
    net = rn.mlp([3, 4, 2], rng=gen())
    before = net.state_dict()
    path = _weights_file(tmp_path, kind, before, data_.draw)
    with raises_naming("path"):
        net.load(path)
    with raises_naming("path"):
        net.load(io.BytesIO(path.read_bytes()))
    for name, p, _ in net.named_parameters():
        assert np.array_equal(p, before[name])


@PROPERTY
@given(data_=st.data())
def test_load_refuses_non_finite_weights_and_loads_nothing(tmp_path, data_):
    net = rn.mlp([3, 4, 2], rng=gen())
    before = net.state_dict()
    state = rn.mlp([3, 4, 2], rng=np.random.default_rng(1)).state_dict()
    key = data_.draw(st.sampled_from(sorted(state)))
    state[key] = data_.draw(poisoned(state[key].shape))
    path = tmp_path / "nonfinite.npz"
    with open(path, "wb") as f:
        np.savez(f, **state)
    with pytest.raises(
        ValueError, match=rf"path .*state\['{re.escape(key)}'\] contains NaN or inf"
    ):
        net.load(path)
    with pytest.raises(ValueError, match=rf"state\['{re.escape(key)}'\] contains NaN or inf"):
        net.load_state_dict(state)
    for name, p, _ in net.named_parameters():
        assert np.array_equal(p, before[name])


@pytest.mark.parametrize("bad", [None, 3, True, ["w.npz"], 2.5])
def test_save_and_load_refuse_what_is_not_a_path_or_file(bad):
    net = rn.mlp([3, 2], rng=gen())
    with raises_naming("path"):
        net.save(bad)
    with raises_naming("path"):
        net.load(bad)


def test_load_names_a_missing_file(tmp_path):
    with raises_naming("path"):
        rn.mlp([3, 2], rng=gen()).load(tmp_path / "missing.npz")


@pytest.mark.parametrize("bad", [None, [("0.W", np.zeros((2, 3)))], "0.W", 3])
def test_load_state_dict_wants_a_dict(bad):
    with raises_naming("state"):
        rn.mlp([3, 2], rng=gen()).load_state_dict(bad)


# --------------------------------------------------------------------------- +-1e4 scores


def _loss_method(loss, method):
    f = getattr(loss, method)
    return lambda z, y: f(z, y)


SCORE_FUNCTIONS = {
    "softmax": lambda z, y: rn.softmax(z),
    "log_softmax": lambda z, y: rn.log_softmax(z),
    "logsumexp": lambda z, y: rn.logsumexp(z),
    "softmax_jvp": lambda z, y: rn.softmax_jvp(rn.softmax(z), z),
    "softmax_jacobian": lambda z, y: rn.softmax_jacobian(rn.softmax(z)),
    **{
        f"{type(loss).__name__}.{m}": _loss_method(loss, m)
        for loss in LOSSES[:3]
        for m in ("__call__", "sample_grad", "grad")
    },
}


@PROPERTY
@pytest.mark.parametrize("case", SCORE_FUNCTIONS)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 4),
    k=st.integers(2, 5),
    dtype=st.sampled_from([np.float64, np.float32]),
)
def test_scores_up_to_1e4_give_finite_values(case, seed, n, k, dtype):
    rng = np.random.default_rng(seed)
    z = rng.choice([-1e4, 1e4], size=(n, k)) * rng.uniform(0.5, 1.0, (n, k))
    value = SCORE_FUNCTIONS[case](z.astype(dtype), rng.integers(0, k, n))
    assert np.all(np.isfinite(value))


def test_exp_quadratic_refuses_scores_above_its_bound_and_names_z():
    with raises_naming("z"):
        rn.ExpQuadratic()(np.array([[1e4, 0.0]]), np.array([0]))
    assert np.isfinite(rn.ExpQuadratic()(np.array([[-1e4, 0.0]]), np.array([0])))


def test_softmax_helpers_keep_float32_and_match_float64():
    z = np.random.default_rng(0).normal(scale=3.0, size=(4, 5))
    for f in (losses.softmax, losses.log_softmax, losses.logsumexp):
        assert f(z.astype(np.float32)).dtype == np.float32
        np.testing.assert_allclose(f(z.astype(np.float32)), f(z), rtol=1e-5, atol=1e-6)
