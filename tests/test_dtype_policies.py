"""autoconv.dtype_policies and mixed_precision against Keras 3.15 (its PyTorch backend, where
installed): the float32 and float64 policies, their reprs, configs and Keras entries, the
global policy as the layers' default dtype, layers' dtype_policy; the integer policies (a
layer or the global policy given one an error); Keras's mixed, half and quantized policies
one clear error naming them."""

from __future__ import annotations

import os

import numpy as np
import pytest

import autoconv as ac
from autoconv import config, dtype_policies, mixed_precision


@pytest.fixture
def floatx():
    before = config.floatx()
    yield
    config.set_floatx(before)
    dtype_policies.reset_dtype_policy()


@pytest.mark.parametrize("name", ["float32", "float64"])
def test_policies_match_kerass(name):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("torch")
    keras = pytest.importorskip("keras")
    ours, theirs = ac.DTypePolicy(name), keras.DTypePolicy(name)
    assert repr(ours) == repr(theirs) and ours.get_config() == theirs.get_config()
    assert dtype_policies.serialize(ours) == keras.dtype_policies.serialize(theirs)
    assert ours.compute_dtype == theirs.compute_dtype == theirs.variable_dtype == name
    entry = keras.dtype_policies.serialize(theirs)
    assert dtype_policies.deserialize(entry) == ours == dtype_policies.get(name)
    layer, keras_layer = ac.layers.Dense(2, dtype=ours), keras.layers.Dense(2, dtype=theirs)
    assert repr(layer.dtype_policy) == repr(keras_layer.dtype_policy)
    assert layer.compute_dtype == keras_layer.compute_dtype == name


def test_the_global_policy_is_the_layers_default(floatx):
    mixed_precision.set_global_policy("float64")
    assert config.dtype_policy() == ac.DTypePolicy("float64") == mixed_precision.global_policy()
    assert ac.layers.Dense(2)(np.ones((1, 3))).dtype == np.float64
    config.set_dtype_policy(ac.FloatDTypePolicy("float32"))
    assert ac.layers.Dense(2).dtype == "float32"


@pytest.mark.parametrize("name", ["int32", "int", "uint8", "bool"])
def test_integer_policies_are_kerass_and_a_layer_given_one_a_clear_error(name, keras):
    """Keras takes any dtype's name; autoconv's layers compute in floats."""
    ours, theirs = ac.DTypePolicy(name), keras.DTypePolicy(name)
    assert repr(ours) == repr(theirs) and ours.get_config() == theirs.get_config()
    assert (ours.compute_dtype, ours.variable_dtype) == (
        theirs.compute_dtype, theirs.variable_dtype,
    )  # fmt: skip
    assert dtype_policies.deserialize(keras.dtype_policies.serialize(theirs)) == ours
    with pytest.raises(ValueError, match="autoconv's layers compute in floats"):
        ac.layers.Identity(dtype=ours)


@pytest.mark.parametrize("name", ["mixed_float16", "mixed_bfloat16", "float16", "int8"])
def test_other_policies_are_one_clear_error(name):
    with pytest.raises(ValueError, match=f"Dtype policy '{name}' is not supported by autoconv"):
        mixed_precision.set_global_policy(name)


@pytest.mark.parametrize(
    ("module", "name"),
    [(dtype_policies, "QuantizedDTypePolicy"), (mixed_precision, "LossScaleOptimizer")],
)
def test_kerass_other_names_say_why_they_are_missing(module, name):
    with pytest.raises(AttributeError, match=f"{name} is not implemented by autoconv"):
        getattr(module, name)


def test_get_takes_none_and_dtypes_as_kerass(floatx):
    # Keras: get(None) is the global policy, get(np.float64) the policy of that dtype
    assert dtype_policies.get(np.float64) == ac.DTypePolicy("float64")
    assert dtype_policies.get(np.dtype("float32")) == ac.DTypePolicy("float32")
    config.set_dtype_policy("float64")
    assert dtype_policies.get(None) == ac.DTypePolicy("float64")
    with pytest.raises(ValueError, match="Cannot interpret `dtype` argument"):
        dtype_policies.get(3)


def test_the_global_policy_leaves_floatx_as_kerass(floatx):
    # Keras 3.15: set_dtype_policy("float64") makes new layers float64, while floatx, Input
    # and the ops stay float32; clear_session forgets the policy
    config.set_dtype_policy("float64")
    assert config.floatx() == "float32" and ac.layers.Input((2,)).dtype == "float32"
    assert ac.ops.zeros(2).dtype == "float32"
    assert ac.layers.Dense(2).dtype == "float64"
    ac.utils.clear_session()
    assert config.dtype_policy() == ac.DTypePolicy("float32")
    assert ac.layers.Dense(2).dtype == "float32"
    with pytest.raises(ValueError, match="Invalid `policy` argument"):
        config.set_dtype_policy(None)


def test_convert_input_casts_floats_when_autocasting_as_kerass():
    # values from Keras 3.15 (torch): float inputs cast to dtype when autocast, others kept
    policy = ac.DTypePolicy("float64")
    assert policy.convert_input(ac.ops.ones(2), True, "float32").dtype == "float32"
    assert policy.convert_input(ac.ops.ones(2), False, "float64").dtype == "float32"
    assert policy.convert_input(np.ones(2, "float32"), True, np.float64).dtype == "float64"
    assert policy.convert_input(np.ones(2, "int32"), True, "float64").dtype == "int32"
    assert policy.convert_input(ac.Input((3,)), True, "float64").dtype == "float64"
    assert policy.convert_input([1.0], True, "float64") == [1.0]


def test_a_users_policy_subclass_round_trips_as_kerass():
    # Keras 3.15's entry and repr for a subclass defined in __main__
    class P(ac.DTypePolicy):
        pass

    P.__module__ = "__main__"
    entry = dtype_policies.serialize(dtype_policy=P("float64"))
    assert entry == {"module": None, "class_name": "P", "config": {"name": "float64"},
                     "registered_name": "P"}  # fmt: skip
    policy = dtype_policies.deserialize(entry, custom_objects={"P": P})
    assert type(policy) is P and repr(policy) == '<P "float64">'
