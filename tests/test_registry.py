"""tfrobust.registry: option types, --option values, entries read from source, run-time additions."""

import math
import textwrap

import pytest

from tfrobust.config import ConfigError
from tfrobust.registry import (
    REGISTRIES,
    REQUIRED,
    Registry,
    TypeSpec,
    options_of,
    parse_option_args,
    parse_value,
    register,
)

# --------------------------------------------------------------------------
# types


@pytest.mark.parametrize(("annotation", "value", "expected"), [
    ("int", 3, 3),
    ("int", 4.0, 4),
    ("float", 2, 2.0),
    ("float", "8/255", 8 / 255),
    ("bool", True, True),
    ("str", "a", "a"),
    ("float | None", None, None),
    ("Optional[int]", 5, 5),
    ("int | str | None", "exact", "exact"),
    ('Literal["a", "b"]', "b", "b"),
    ("list[float]", [1, "1/2"], [1.0, 0.5]),
    ("Sequence[int]", (1, 2), [1, 2]),
    ("tuple[float, float]", [0, 1], (0.0, 1.0)),
    ("Mapping[str, Any]", {"a": 1}, {"a": 1}),
    ("SomeClass", object, object),
    ("", [1], [1]),
])
def test_a_value_of_the_right_type_is_converted(annotation, value, expected):
    spec = TypeSpec.parse(annotation) if annotation else TypeSpec("any")
    got = spec.coerce(value)
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize(("annotation", "value"), [
    ("int", True), ("int", 1.5), ("int", "3"), ("float", True), ("float", "x"), ("float", math.inf),
    ("float", 1e39), ("bool", 1), ("bool", "true"), ("str", 3), ("float | None", "x"),
    ('Literal["a", "b"]', "c"), ('Literal[1, 2]', True), ("list[float]", 1.0), ("list[int]", [1, 1.5]),
    ("tuple[float, float]", [1, 2, 3]), ("Mapping[str, Any]", [1]), ("None", 0),
])
def test_a_value_of_the_wrong_type_is_refused(annotation, value):
    with pytest.raises(TypeError):
        TypeSpec.parse(annotation).coerce(value)


def test_types_describe_themselves_for_error_messages():
    assert TypeSpec.parse("float | None").describe() == "float or none"
    assert TypeSpec.parse('Literal["refuse", "cut"]').describe() == "one of refuse, cut"
    assert TypeSpec.parse("list[int]").describe() == "list of int"
    assert TypeSpec.parse("tuple[float, float]").describe() == "(float, float)"


# --------------------------------------------------------------------------
# command-line values


@pytest.mark.parametrize(("text", "expected"), [
    ("3", 3), ("-2", -2), ("0.5", 0.5), ("1e-3", 1e-3), ("8/255", 8 / 255), ("true", True), ("No", False),
    ("none", None), ("inf", math.inf), ("a,b", ["a", "b"]), ("1, 2.5", [1, 2.5]), ("[1, 2]", [1, 2]),
    ("{a: 1}", {"a": 1}), ("logit_gradient", "logit_gradient"), ("path/to/dir", "path/to/dir"),
])
def test_command_line_values_are_read_as_yaml_like_scalars(text, expected):
    got = parse_value(text)
    assert got == expected and type(got) is type(expected)


def test_option_args_nest_dotted_keys_and_refuse_malformed_ones():
    assert parse_option_args(["steps=10", "smoothgrad.samples=5", "smoothgrad.sigma=0.1"]) == {
        "steps": 10, "smoothgrad": {"samples": 5, "sigma": 0.1}}
    for bad in (["steps"], ["=3"], ["a..b=1"], ["a=1", "a=2"], ["a=1", "a.b=2"], ["eps=1/0"], ["x=[1, 2"]):
        with pytest.raises(ConfigError, match="--option"):
            parse_option_args(bad)


# --------------------------------------------------------------------------
# entries


def example(model, x, y, *, steps: int = 50, baseline: float | None = None, mode: str = "a", need: float):
    """An example attribution.

    More text that is not part of the description.
    """


def test_an_entry_reads_its_options_from_the_signature_and_checks_them():
    registry = Registry("attributions", home="attribution", protocol=("bounds",))
    entry = registry.add("example", example)
    assert [o.name for o in entry.options] == ["steps", "baseline", "mode", "need"]
    assert entry.description == "An example attribution."
    assert entry.option("need").default is REQUIRED and entry.option("steps").default == 50
    assert entry.parse({"steps": 3, "baseline": "1/4", "need": 1}) == {"steps": 3, "baseline": 0.25, "need": 1.0}
    with pytest.raises(ConfigError, match=r"attribution 'example' has no option 'step'; "
                                          r"its options: steps, baseline, mode, need"):
        entry.parse({"step": 3, "need": 1})
    with pytest.raises(ConfigError, match=r"option steps of attribution 'example' must be int, got 1.5"):
        entry.parse({"steps": 1.5, "need": 1})
    with pytest.raises(ConfigError, match=r"attribution 'example' needs option\(s\) need"):
        entry.parse({})
    with pytest.raises(ConfigError, match="must be a mapping"):
        entry.parse([1])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^saliency.options: "):
        entry.parse({"nope": 1}, prefix="saliency.options")


def test_protocol_keywords_are_not_options_and_a_plain_class_takes_its_init_options():
    def attack(model, x, y, *, norm: str, eps: float, bounds: tuple[float, float], seed: int = 0, steps: int = 3):
        """An attack."""

    class Method:
        """A method."""

        def __init__(self, base, *, weight: float = 0.5, **kwargs):
            pass

    assert [o.name for o in options_of(attack, ("norm", "eps", "bounds", "seed"))] == ["steps"]
    assert [(o.name, o.default) for o in options_of(Method)] == [("weight", 0.5)]


def test_an_unknown_name_is_one_line_listing_the_known_ones():
    registry = Registry("attacks", home="attacks")
    registry.add("a", example)
    with pytest.raises(ConfigError, match=r"^unknown attack 'b'; choose from: .*\ba\b"):
        registry["b"]
    assert "b" not in registry and "a" in registry
    registry.remove("a")
    assert "a" not in registry


def write_package(root, files):
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


def test_entries_are_found_in_the_home_package_by_their_decorator_without_importing_it(tmp_path):
    write_package(tmp_path / "pkg", {
        "__init__.py": "",
        "home/__init__.py": "raise RuntimeError('the home package must not be imported to list it')\n",
        "home/one.py": '''
            from tfrobust.registry import register
            import tfrobust.registry as reg

            @register("kinds", "first")
            def first(deps, out_dir, *, n: int = 3, label: str = "x", scale: float = 2 * 3):
                """The first kind."""

            @reg.register("kinds", "second")
            class Second:
                """Not a function."""
                def __init__(self, *, k: "list[int]" = (1, 2)):
                    pass

            @register("attacks", "other_registry")
            def ignored(deps, out_dir):
                pass

            def undecorated(deps, out_dir, *, z: int = 1):
                pass
        ''',
    })
    registry = Registry("kinds", home="home", root=tmp_path / "pkg")
    assert registry.names() == ["first", "second"]
    first = registry["first"]
    assert first.target == "pkg.home.one:first" and first.description == "The first kind."
    assert [(o.name, o.default) for o in first.options][:2] == [("n", 3), ("label", "x")]
    assert str(first.option("scale").default) == "2 * 3"  # not a literal: shown as written
    assert registry["second"].option("k").default == (1, 2)


def test_a_name_registered_twice_in_the_home_package_is_an_error(tmp_path):
    write_package(tmp_path / "pkg", {
        "home/a.py": 'from tfrobust.registry import register\n@register("kinds", "x")\ndef a(deps, out): pass\n',
        "home/b.py": 'from tfrobust.registry import register\n@register("kinds", "x")\ndef b(deps, out): pass\n',
    })
    with pytest.raises(ConfigError, match="'x' is registered twice"):
        Registry("kinds", home="home", root=tmp_path / "pkg").names()


def test_register_refuses_an_unknown_registry():
    with pytest.raises(ValueError, match="registry must be one of"):
        register("widgets", "x")


@pytest.mark.parametrize("registry", sorted(REGISTRIES))
def test_every_built_in_entry_reads_the_same_from_its_source_as_from_the_loaded_object(registry):
    """The ast reading (used to list and check without TensorFlow) agrees with inspect on the loaded object."""
    reg = REGISTRIES[registry]
    assert reg.names(), f"{registry} has no entries"
    for name in reg:
        entry = reg[name]
        loaded = options_of(entry.load(), reg.protocol)
        assert [(o.name, o.default, o.type) for o in entry.options] == \
            [(o.name, o.default, o.type) for o in loaded], f"{registry} {name}"
        assert entry.description, f"{registry} {name} has no one-line description (its docstring)"
        missing = [k for k in reg.protocol if registry == "attacks" and not entry.accepts(k)]
        assert not missing, f"attack {name} lacks protocol keywords {missing}"
