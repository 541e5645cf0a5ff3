"""Training checkpoints without pickle: tensors in safetensors, everything else as JSON.

A *training checkpoint* is Lightning's checkpoint dictionary (weights, optimiser state,
  loop counters, callback state) written by :class:`SafeCheckpointIO`: its tensors go into a
  safetensors file and the nested structure around them into that file's JSON metadata.
  Lightning's own format is a pickle, which can run code when loaded; this one cannot.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from lightning.fabric.plugins.io.checkpoint_io import CheckpointIO
from safetensors.torch import save_file
from torch import Tensor

from attnzoo.training.run import read_safetensors

STRUCTURE_KEY = "attnzoo.structure"


def _encode(value: Any, tensors: dict[str, Tensor], path: str) -> Any:
    """JSON-able skeleton of ``value``; tensors are moved into ``tensors`` and referenced by name."""
    if isinstance(value, Tensor):
        name = f"t{len(tensors)}"
        tensors[name] = value.detach().cpu().contiguous().clone()
        return {"tensor": name}
    if isinstance(value, dict):
        return {
            "dict": [[_encode_key(key, path), _encode(item, tensors, f"{path}.{key}")] for key, item in value.items()]
        }
    if isinstance(value, (list, tuple)):
        kind = "list" if isinstance(value, list) else "tuple"
        return {kind: [_encode(item, tensors, f"{path}[{i}]") for i, item in enumerate(value)]}
    if value is None or isinstance(value, (bool, int, float, str)):
        return {"value": value}
    if isinstance(value, Path):
        return {"value": str(value)}
    raise TypeError(f"checkpoint entry {path}: cannot store a {type(value).__name__} without pickle")


def _encode_key(key: Any, path: str) -> Any:
    if isinstance(key, (str, int)) and not isinstance(key, bool):
        return key
    raise TypeError(f"checkpoint entry {path}: dictionary key {key!r} is not a str or int")


def _decode(node: dict, tensors: dict[str, Tensor]) -> Any:
    ((kind, payload),) = node.items()
    if kind == "tensor":
        return tensors[payload]
    if kind == "dict":
        return {key: _decode(item, tensors) for key, item in payload}
    if kind == "list":
        return [_decode(item, tensors) for item in payload]
    if kind == "tuple":
        return tuple(_decode(item, tensors) for item in payload)
    return payload


def save_checkpoint_file(checkpoint: dict[str, Any], path: str | Path) -> None:
    """Write a nested dict of tensors and plain values to ``path`` (atomically, via a temp file)."""
    tensors: dict[str, Tensor] = {}
    structure = _encode(checkpoint, tensors, "checkpoint")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    save_file(tensors, str(temporary), metadata={STRUCTURE_KEY: json.dumps(structure)})
    with open(temporary, "rb") as handle:  # on disk before the rename: a power loss leaves the old file
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def load_checkpoint_file(path: str | Path) -> dict[str, Any]:
    """Read a file written by :func:`save_checkpoint_file`. Never unpickles."""
    path = Path(path)
    tensors, metadata = read_safetensors(path)
    if STRUCTURE_KEY not in metadata:
        raise ValueError(f"{path}: a safetensors file, but not an attnzoo training checkpoint (no structure)")
    return _decode(json.loads(metadata[STRUCTURE_KEY]), tensors)


class SafeCheckpointIO(CheckpointIO):
    """Lightning checkpoint I/O through :func:`save_checkpoint_file` (no pickle).

    ``Trainer(plugins=[SafeCheckpointIO()])``; ``trainer.fit(..., ckpt_path="last")`` resumes.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options=None) -> None:
        save_checkpoint_file(checkpoint, path)

    def load_checkpoint(self, path, map_location=None, weights_only=None) -> dict[str, Any]:
        return load_checkpoint_file(path)

    def remove_checkpoint(self, path) -> None:
        Path(path).unlink(missing_ok=True)
