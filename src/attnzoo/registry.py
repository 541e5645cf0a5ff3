"""Every model reachable by name, with named presets: ``create_model("seq2seq", preset="luong-general")``.

A model folder registers a builder with ``@register_model("name", config=ConfigClass, presets=...)``;
the builder takes the frozen config dataclass and returns the ``nn.Module``. The config class is
the single source of every default; a preset is a named set of overrides of it (and, for
training, of the recipe's task and training settings), as timm registers
``vit_base_patch16_224``. Every sub-package of ``attnzoo.models`` is imported on first use, so
``import attnzoo`` stays light and a new model folder needs no list to be edited.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import importlib
import inspect
import pkgutil
import textwrap
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn


@dataclass(frozen=True)
class Preset:
    """A named recipe: overrides of the model config, and of the recipe's task and training settings."""

    model: Mapping[str, Any] = field(default_factory=dict)  # fields of the model's config dataclass
    task: Mapping[str, Any] = field(default_factory=dict)  # fields of the recipe's task settings
    training: Mapping[str, Any] = field(default_factory=dict)  # fields of attnzoo.recipes.Training
    about: str = ""  # one line: what the preset is (the paper's model, a measured recipe, ...)


@dataclass(frozen=True)
class Entry:
    """What ``register_model`` records for one name."""

    name: str
    config: type
    builder: Callable[[Any], nn.Module]
    presets: Mapping[str, Preset]
    paper: str

    @property
    def package(self) -> str:
        """The model folder's package, e.g. ``"attnzoo.models.seq2seq"``."""
        return self.builder.__module__.rsplit(".", 1)[0]


_REGISTRY: dict[str, Entry] = {}


def register_model(
    name: str, config: type, *, presets: Mapping[str, Preset | Mapping[str, Any]] | None = None, paper: str = ""
) -> Callable:
    """Decorator: register ``builder(config) -> nn.Module`` under ``name``.

    Args:
        name: the registry name (``attnzoo train NAME``).
        config: the frozen config dataclass.
        presets: ``{preset name: Preset}``; a plain mapping is taken as model-config overrides.
        paper: the paper, as the model table shows it (``"Bahdanau et al. 2015"``).
    """
    chosen = {
        key: value if isinstance(value, Preset) else Preset(model=value) for key, value in (presets or {}).items()
    }

    def decorator(builder: Callable[[Any], nn.Module]) -> Callable[[Any], nn.Module]:
        if name in _REGISTRY and _REGISTRY[name].builder.__qualname__ != builder.__qualname__:
            raise ValueError(f"model name {name!r} is already registered")
        _REGISTRY[name] = Entry(name, config, builder, chosen, paper)
        return builder

    return decorator


@functools.cache
def _load_model_packages() -> None:
    """Import every sub-package of ``attnzoo.models`` (each registers its models on import)."""
    import attnzoo.models

    for package in pkgutil.iter_modules(attnzoo.models.__path__):
        if package.ispkg:
            importlib.import_module(f"attnzoo.models.{package.name}")


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    _load_model_packages()
    return sorted(_REGISTRY)


def entry(name: str) -> Entry:
    """The registry entry of model ``name``; ``ValueError`` listing the names for an unknown one."""
    _load_model_packages()
    if name not in _REGISTRY:
        raise ValueError(f"model: expected one of {', '.join(sorted(_REGISTRY))}; got {name!r}")
    return _REGISTRY[name]


def config_class(name: str) -> type:
    """The config dataclass of model ``name``."""
    return entry(name).config


def presets(name: str) -> dict[str, Preset]:
    """The named presets of model ``name``."""
    return dict(entry(name).presets)


def preset(name: str, preset_name: str | None) -> Preset:
    """Preset ``preset_name`` of model ``name`` (None: no overrides); ``ValueError`` for an unknown one."""
    if preset_name is None:
        return Preset()
    known = entry(name).presets
    if preset_name not in known:
        raise ValueError(f"preset: model {name!r} has presets {', '.join(known) or '(none)'}; got {preset_name!r}")
    return known[preset_name]


def make_config(name: str, preset_name: str | None = None, **overrides: Any) -> Any:
    """The config of model ``name``: its defaults, then the preset's fields, then ``overrides``."""
    fields = {**preset(name, preset_name).model, **overrides}
    return build_dataclass(config_class(name), fields, what=f"{name} config")


def create_model(name: str, config: Any | None = None, *, preset: str | None = None, **overrides: Any) -> nn.Module:
    """Build model ``name`` from ``config`` (default: its preset's or its defaults) with ``overrides``.

    ``create_model("seq2seq", preset="luong-general", hidden_size=128)``.
    """
    if config is None:
        config = make_config(name, preset, **overrides)
    elif overrides:
        config = replace_fields(config, overrides, what=f"{name} config")
    return entry(name).builder(config)


def load_recipe(name: str, task: Any = None) -> Any:
    """The recipe of model ``name`` (its folder's ``recipe.RECIPE`` class) with task settings ``task``.

    ``task``: the recipe's ``Task`` dataclass, or a mapping of overrides of its defaults (None: defaults).
    """
    module = importlib.import_module(f"{entry(name).package}.recipe")
    return module.RECIPE(name, task)


def require_positive(config: Any, *names: str) -> None:
    """Refuse a config whose fields ``names`` are not >= 1, naming the field (``memory_rows: expected ...``)."""
    for name in names:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: expected a positive integer, got {value!r}")


# ---- dataclass fields: checked overrides and the comments that document them ----------------


def check_fields(cls: Any, fields: Mapping[str, Any], *, what: str) -> None:
    """Refuse a field that dataclass ``cls`` does not have, with a one-line error listing its fields."""
    known = [item.name for item in dataclasses.fields(cls)]
    unknown = [key for key in fields if key not in known]
    if unknown:
        raise ValueError(f"{what}: no field {unknown[0]!r}; the fields are {', '.join(known)}")


def build_dataclass(cls: type, fields: Mapping[str, Any], *, what: str) -> Any:
    """``cls(**fields)`` with unknown fields refused (defaults that depend on other fields resolve anew)."""
    check_fields(cls, fields, what=what)
    return cls(**fields)


def replace_fields(instance: Any, fields: Mapping[str, Any], *, what: str) -> Any:
    """``dataclasses.replace(instance, **fields)``, refusing unknown fields with a one-line error."""
    check_fields(instance, fields, what=what)
    return dataclasses.replace(instance, **fields)


def parse_assignments(cls: type, assignments: list[str], *, what: str) -> dict[str, Any]:
    """``["hidden_size=128", "rnn=lstm"]`` → typed values for the fields of dataclass ``cls``.

    Each value is converted to its field's type (int, float, bool, str, None, tuples of these);
    an unknown field, a missing ``=`` or a value of the wrong type raises ``ValueError`` naming
    the field, the type expected and the value received, and listing the valid fields.
    """
    hints = typing.get_type_hints(cls)
    known = [item.name for item in dataclasses.fields(cls)]
    values = {}
    for assignment in assignments:
        key, equals, text = assignment.partition("=")
        key = key.strip().replace("-", "_")
        if not equals:
            raise ValueError(f"{what}: expected FIELD=VALUE, got {assignment!r}")
        if key not in known:
            raise ValueError(f"{what}: no field {key!r}; the fields are {', '.join(known)}")
        values[key] = convert(text.strip(), hints[key], f"{what} {key}")
    return values


def convert(text: str, annotation: Any, what: str) -> Any:
    """``text`` as a value of type ``annotation`` (``int``, ``float | None``, ``tuple[int, ...]``, ...)."""
    options = typing.get_args(annotation) if _is_union(annotation) else (annotation,)
    if type(None) in options and text.lower() in ("none", "null", ""):
        return None
    for option in (option for option in options if option is not type(None)):
        try:
            return _convert_one(text, option)
        except ValueError:
            continue
    names = " or ".join(getattr(option, "__name__", str(option)) for option in options)
    raise ValueError(f"{what}: expected {names}, got {text!r}")


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def _convert_one(text: str, kind: Any) -> Any:
    if typing.get_origin(kind) is tuple:
        item = typing.get_args(kind)[0]
        return tuple(_convert_one(part.strip(), item) for part in text.strip("()").split(",") if part.strip())
    if kind is bool:
        if text.lower() in ("true", "yes", "1", "on"):
            return True
        if text.lower() in ("false", "no", "0", "off"):
            return False
        raise ValueError(text)
    if kind in (int, float, str):
        return kind(text)
    raise ValueError(text)


@functools.cache
def field_comments(cls: type) -> dict[str, str]:
    """The comment after each field of dataclass ``cls`` (and of its dataclass bases) in its source:
    the help text of the CLI."""
    comments: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if dataclasses.is_dataclass(klass):
            comments.update(_own_field_comments(klass))
    return comments


def _own_field_comments(cls: type) -> dict[str, str]:
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    lines = source.splitlines()
    comments = {}
    for node in ast.parse(source).body[0].body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            line = lines[node.end_lineno - 1]
            if "#" in line:
                comments[node.target.id] = line.split("#", 1)[1].strip()
    return comments
