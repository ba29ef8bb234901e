"""A job's whole config as plain JSON, saved with what the job made (nanoGPT's way): every
run directory holds ``config.json``, and a rerun reuses earlier work only when all of it,
not a chosen few fields, is the same."""

from __future__ import annotations

import dataclasses
import json
from enum import Enum
from pathlib import Path
from typing import Any

from av1tools.paths import write_text_atomic

CONFIG_FILE = "config.json"


def plain(value: Any) -> Any:
    """A config (nested frozen dataclasses, tuples, paths) as JSON-ready data; each
    dataclass also records its class name, so two families' configs never compare equal."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"type": type(value).__name__, **fields}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


def write_config(directory: Path, config: Any) -> Path:
    return write_text_atomic(Path(directory) / CONFIG_FILE, json.dumps(plain(config), indent=2, sort_keys=True))


def read_config(directory: Path) -> dict | None:
    """The config saved in ``directory``, or None when there is none (or it is unreadable)."""
    try:
        data = json.loads((Path(directory) / CONFIG_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def without(data: Any, ignored: tuple[str, ...]) -> Any:
    """``data`` with the keys in ``ignored`` removed at every depth (fields that change no result)."""
    if isinstance(data, dict):
        return {k: without(v, ignored) for k, v in data.items() if k not in ignored}
    if isinstance(data, list):
        return [without(v, ignored) for v in data]
    return data


def same_config(directory: Path, config: Any, ignored: tuple[str, ...] = ()) -> bool:
    """Whether ``directory`` was made by exactly ``config`` (``ignored`` fields aside)."""
    saved = read_config(directory)
    return saved is not None and without(saved, ignored) == without(plain(config), ignored)
