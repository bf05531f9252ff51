"""keras.utils.Config against Keras 3.15's (where installed): attribute and item access,
iteration, JSON, freezing, and the error naming the closest key."""

from __future__ import annotations

import pytest

from autoconv.utils import Config


def _filled(lib_config: type) -> object:
    config = lib_config(learning_rate=0.1, momentum=0.9)
    config.use_ema = True
    config["seed"] = 123
    return config


def test_it_behaves_as_kerass(keras):
    ours, theirs = _filled(Config), _filled(keras.utils.Config)
    assert repr(ours) == repr(theirs) and list(ours) == list(theirs) and len(ours) == 4
    assert ours.to_json() == theirs.to_json() and ours.as_dict() == theirs.as_dict()
    assert (ours.seed, ours["learning_rate"], ours.get("absent", 7)) == (123, 0.1, 7)
    assert list(ours.items()) == list(theirs.items()) and "momentum" in ours
    assert ours.pop("momentum") == 0.9 and "momentum" not in ours


def test_a_frozen_config_refuses_changes():
    config = _filled(Config)
    config.freeze()
    assert config.frozen
    for change in (lambda: setattr(config, "x", 1), lambda: config.update(x=1),
                   lambda: config.__setitem__("x", 1), lambda: config.pop("seed")):  # fmt: skip
        with pytest.raises(ValueError, match="the config is frozen"):
            change()
    config.unfreeze()
    config.x = 1
    assert config.x == 1


def test_an_unknown_attribute_names_the_closest_key():
    message = r"Unknown attribute: 'learning_rat'\. Did you mean 'learning_rate'"
    with pytest.raises(AttributeError, match=message):
        _ = _filled(Config).learning_rat
