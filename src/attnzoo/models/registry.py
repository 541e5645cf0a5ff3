"""Every model reachable by name: ``create_model("seq2seq", hidden_size=64)``.

A model folder registers a builder with ``@register_model("name", config=ConfigClass)``;
the builder takes the frozen config dataclass and returns the ``nn.Module``. Every
sub-package of ``attnzoo.models`` is imported on first use, so ``import attnzoo`` stays light
and a new model folder needs no list to be edited.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

from torch import nn

_REGISTRY: dict[str, tuple[type, Callable[[Any], nn.Module]]] = {}


def register_model(name: str, config: type) -> Callable:
    """Decorator: register ``builder(config) -> nn.Module`` under ``name`` with its config class."""

    def decorator(builder: Callable[[Any], nn.Module]) -> Callable[[Any], nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model name {name!r} is already registered")
        _REGISTRY[name] = (config, builder)
        return builder

    return decorator


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


def config_class(name: str) -> type:
    """The config dataclass of model ``name``."""
    _load_model_packages()
    if name not in _REGISTRY:
        raise ValueError(f"model: expected one of {sorted(_REGISTRY)}, got {name!r}")
    return _REGISTRY[name][0]


def model_package(name: str) -> str:
    """The package that defines model ``name``, e.g. ``"attnzoo.models.seq2seq"``."""
    config_class(name)
    return _REGISTRY[name][1].__module__.rsplit(".", 1)[0]


def create_model(name: str, config: Any | None = None, **overrides: Any) -> nn.Module:
    """Build model ``name`` from ``config`` (default: the config class's defaults) with ``overrides``."""
    config_type = config_class(name)
    config = config_type() if config is None else config
    if overrides:
        config = dataclasses.replace(config, **overrides)
    return _REGISTRY[name][1](config)
