"""tfrobust.config: parsing, validation (field-named errors), YAML round trip."""

import math

import pytest

from tfrobust.config import (
    ConfigError,
    DataConfig,
    OptimizerConfig,
    TrainConfig,
    dump_yaml,
    load_train_config,
    load_yaml,
    parse_int_list,
    parse_number,
    replace,
    to_dict,
    train_config_from_dict,
)


@pytest.mark.parametrize(
    "text, value",
    [("8/255", 8 / 255), ("0.3", 0.3), ("1e-3", 1e-3), (2, 2.0), (" 1 / 4 ", 0.25), ("-1", -1.0)],
)
def test_parse_number(text, value):
    assert parse_number(text) == pytest.approx(value)


@pytest.mark.parametrize("bad", ["abc", "1/0", None, True, "nan", [1]])
def test_parse_number_rejects(bad):
    with pytest.raises(ConfigError, match="eps"):
        parse_number(bad, name="eps")


def test_parse_int_list():
    assert parse_int_list("5,7") == (5, 7)
    assert parse_int_list([3]) == (3,)
    assert parse_int_list(None) is None
    with pytest.raises(ConfigError, match="classes"):
        parse_int_list("5,x", name="classes")


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"limit": -3}, "data.limit"),
        ({"limit": 0}, "data.limit"),
        ({"bounds": (1, -1)}, "data.bounds"),
        ({"bounds": (0, 1, 2)}, "data.bounds"),
        ({"classes": "5,5"}, "data.classes"),
        ({"augment": "rotate"}, "data.augment"),
        ({"name": ""}, "data.name"),
    ],
)
def test_data_config_errors_name_the_field(kwargs, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        DataConfig(**kwargs)


def test_data_config_normalises_values():
    cfg = DataConfig(classes="5,7", bounds="-1,1", limit=512)
    assert cfg.classes == (5, 7) and cfg.bounds == (-1.0, 1.0) and cfg.limit == 512


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"name": "rmsprop"}, "optimizer.name"),
        ({"learning_rate": 0}, "optimizer.learning_rate"),
        ({"learning_rate": "-1/10"}, "optimizer.learning_rate"),
        ({"schedule": "step"}, "optimizer.schedule"),
        ({"momentum": 1.0}, "momentum"),
        ({"weight_decay": -1}, "optimizer.weight_decay"),
    ],
)
def test_optimizer_config_errors(kwargs, field):
    with pytest.raises(ConfigError, match=field):
        OptimizerConfig(**kwargs)


@pytest.mark.parametrize(
    "kwargs, field",
    [({"epochs": 0}, "epochs"), ({"batch_size": -1}, "batch_size"), ({"seed": -1}, "seed"),
     ({"jit_compile": "yes"}, "jit_compile"), ({"method": ""}, "method")],
)
def test_train_config_errors(kwargs, field):
    with pytest.raises(ConfigError, match=field):
        TrainConfig(**kwargs)


def test_configs_are_frozen():
    cfg = TrainConfig()
    with pytest.raises(AttributeError):
        cfg.epochs = 3  # type: ignore[misc]
    assert replace(cfg, epochs=3).epochs == 3
    with pytest.raises(ConfigError, match="epochs"):
        replace(cfg, epochs=-3)


def test_unknown_keys_are_errors():
    with pytest.raises(ConfigError, match="epoch"):
        train_config_from_dict({"epoch": 3})
    with pytest.raises(ConfigError, match="data: unknown field"):
        train_config_from_dict({"data": {"nmae": "mnist"}})


def test_yaml_round_trip(tmp_path):
    cfg = train_config_from_dict(
        {"data": {"name": "mnist", "bounds": [-1, 1], "classes": [5, 7]},
         "optimizer": {"name": "sgd", "learning_rate": "1/100", "schedule": "cosine"},
         "epochs": 2, "description": "ignored"}
    )
    path = tmp_path / "c.yaml"
    dump_yaml(cfg, path)
    again = load_train_config(path)
    assert again == cfg
    assert again.optimizer.learning_rate == pytest.approx(0.01)
    assert to_dict(again)["data"]["classes"] == [5, 7]


def test_load_yaml_errors(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_yaml(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_yaml(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_yaml(listy)
    unsafe = tmp_path / "unsafe.yaml"
    unsafe.write_text("!!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_yaml(unsafe)


def test_every_shipped_config_is_valid():
    from pathlib import Path

    configs = sorted(Path(__file__).resolve().parents[1].joinpath("configs").glob("*.yaml"))
    assert configs, "no configs shipped"
    import yaml

    for path in configs:
        if "vaegan" in yaml.safe_load(path.read_text()):
            continue  # VAE-GAN configs (tfrobust manifold train): checked in tests/training/test_run.py
        cfg = load_train_config(path)
        assert cfg.epochs >= 1 and not math.isnan(cfg.optimizer.learning_rate)
