"""The one interface every checkpoint layout reader implements.

Like pip-audit's ``_dependency_source``: each layout (torch files, safetensors,
Hugging Face folders, llama2.c exports) is one module with one
:class:`LayoutReader`; :mod:`tsdiag.checkpoint.formats` tries them in order.
Readers never judge: they return a :class:`RawCheckpoint` of lazily readable
tensors and the recorded values exactly as found, each document labelled so
that every value can later say where it came from.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from tsdiag.checkpoint.facts import Sourced
from tsdiag.checkpoint.tensors import TensorRef


@dataclass
class Document:
    """One source of recorded values: the checkpoint's dict, config.json, trainer_state.json, ...

    ``tree`` holds plain containers, numbers and strings; tensors outside the
    model weights stay :class:`TensorRef` (read only when a value is needed).
    """

    label: str
    tree: Any


@dataclass
class RawCheckpoint:
    path: Path
    format: str                                   # torch-zip | torch-legacy | safetensors | hf-folder | hf-trainer-checkpoint | llama2c-bin
    layout: str                                   # how the content is organised (see docs/inspect.md)
    weights: dict[str, TensorRef]                 # model weights, names as the model defines them
    weights_key: str | None = None                # key path of the state dict inside the file
    stripped_prefixes: list[str] = field(default_factory=list)
    documents: list[Document] = field(default_factory=list)
    recorded_arch: dict[str, Sourced] = field(default_factory=dict)   # header / config.json values
    notes: list[str] = field(default_factory=list)


class LayoutReader(ABC):
    """Reads one kind of checkpoint; ``accepts`` must be cheap (a name and the first bytes)."""

    name: ClassVar[str]

    @abstractmethod
    def accepts(self, path: Path, head: bytes) -> bool:
        """Whether ``path`` (whose first 16 bytes are ``head``; empty for folders) is this layout."""

    @abstractmethod
    def read(self, path: Path, *, allow_unsafe_pickle: bool = False) -> RawCheckpoint:
        """Open ``path`` safely; raise :class:`~tsdiag.errors.InputError` for anything unusable."""
