"""The superblock model as a file the patched encoder reads (``AV1TOOLS_MODEL``).

``export_superblock(net, point, path)`` writes a trained ``SuperblockNet`` (its state_dict
and config only) and one operating point; ``read_export(path)`` reads it back. The format
(little-endian, docs/guided.md "The model inside the encoder"):

    header, 24 bytes
      char[8]  magic           b"AV1TSBNT"
      u32      version         2
      u32      payload bytes   everything after the header
      u32      CRC-32          of the payload (zlib's, the IEEE polynomial)
      u32      reserved        0
    payload
      u32      number of widths, then u32 widths (channels at strides 4, 8, 16, 32, 64)
      u32      superblock size (64), u32 types (10), u32 q embedding width (32)
      f32      BLOCK_SCALE, f32 qindex divisor (255)
      u32      rule (1 top_k, 2 threshold, 3 coverage), u32 k, f64 value, u32 max_types
      u32      margin (0, 16, 32), u32 activity (0, 1), u32 frame size (0, 1): the context inputs
      u32      length, then the SuperblockConfig as UTF-8 JSON (for read_export only)
      u32      number of tensors, then per tensor (state_dict order):
               u32 name length, name (ASCII), u32 ndim, u32 dims[ndim], f32 data (C order)

Version 2 is ``SuperblockNet`` of av1tools.model.superblock.net with its all-intra context
inputs (a margin of the frame around the superblock, a local-activity channel, the frame's
size beside the qindex; version 1 had none); the motion inputs (references, frame info) are
not exported. The encoder refuses any other version, a wrong magic, a payload of another
length or CRC, and tensors whose names or shapes are not the ones the widths and inputs imply.
"""

from __future__ import annotations

import copy
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from av1tools.model.common import BLOCK_SCALE
from av1tools.model.config import OperatingPoint
from av1tools.model.superblock.config import SuperblockConfig
from av1tools.model.superblock.layout import SB
from av1tools.model.superblock.net import SuperblockNet
from av1tools.partition import NUM_PARTITIONS
from av1tools.paths import atomic_output

MAGIC = b"AV1TSBNT"
VERSION = 2
HEADER = struct.Struct("<8sIIII")
Q_EMBED = 32
Q_SCALE = 255.0  # SuperblockPredictor.type_probs: qindex / 255
RULE_TOP_K, RULE_THRESHOLD, RULE_COVERAGE = 1, 2, 3


class ExportError(ValueError):
    """A file that is not a valid superblock export."""


def _point_fields(point: OperatingPoint) -> tuple[int, int, float, int]:
    if point.threshold is not None:
        return RULE_THRESHOLD, 0, float(point.threshold), point.max_types
    if point.coverage is not None:
        return RULE_COVERAGE, 0, float(point.coverage), point.max_types
    return RULE_TOP_K, int(point.top_k or 1), 0.0, point.max_types


def _point_of(rule: int, k: int, value: float, max_types: int) -> OperatingPoint:
    if rule == RULE_THRESHOLD:
        return OperatingPoint(threshold=value, max_types=max_types)
    if rule == RULE_COVERAGE:
        return OperatingPoint(coverage=value, max_types=max_types)
    if rule == RULE_TOP_K:
        return OperatingPoint(top_k=k, max_types=max_types)
    raise ExportError(f"unknown operating-point rule {rule}")


def export_bytes(net: SuperblockNet, point: OperatingPoint) -> bytes:
    config: SuperblockConfig = net.config
    # The motion inputs (the references' windows, the frame's place in the group) are not
    # what the encoder runs: it has no reference pictures at the model's call.
    names = ("references", "frame_info")
    extras = {k: getattr(config, k) for k in names if getattr(config, k, None)}
    if extras:
        raise ExportError(f"the encoder runs the all-intra superblock net, not one with {extras}")
    widths = tuple(int(w) for w in config.widths)
    if len(widths) != 5:
        raise ExportError(f"a superblock net has 5 widths, not {len(widths)}")
    rule, k, value, max_types = _point_fields(point)
    if rule == RULE_TOP_K and not 1 <= k <= NUM_PARTITIONS:
        raise ExportError(f"top_k must be within 1..{NUM_PARTITIONS}, not {k}")
    parts = [struct.pack("<I", len(widths)), struct.pack(f"<{len(widths)}I", *widths)]
    parts.append(struct.pack("<IIIff", SB, NUM_PARTITIONS, Q_EMBED, BLOCK_SCALE, Q_SCALE))
    parts.append(struct.pack("<IIdI", rule, k, value, max_types))
    parts.append(struct.pack("<III", config.margin, int(config.activity), int(config.frame_size)))
    blob = json.dumps(config.to_dict(), sort_keys=True).encode()
    parts.append(struct.pack("<I", len(blob)) + blob)
    state = net.state_dict()
    parts.append(struct.pack("<I", len(state)))
    for name, tensor in state.items():
        data = tensor.detach().cpu().to(torch.float32).contiguous().numpy()
        encoded = name.encode("ascii")
        parts.append(struct.pack("<I", len(encoded)) + encoded)
        parts.append(struct.pack(f"<I{data.ndim}I", data.ndim, *data.shape))
        parts.append(data.astype("<f4", copy=False).tobytes())
    payload = b"".join(parts)
    return HEADER.pack(MAGIC, VERSION, len(payload), zlib.crc32(payload), 0) + payload


def with_temperatures(net: SuperblockNet, temperatures: list[float] | None) -> SuperblockNet:
    """A copy of ``net`` whose level heads give the calibrated logits (each level's logits
    divided by its temperature, as ``SuperblockPredictor`` divides them): the heads are
    linear, so their weights and biases are divided instead, and the encoder's network needs
    no temperature of its own. None: ``net`` itself."""
    if not temperatures:
        return net
    folded = copy.deepcopy(net)
    with torch.no_grad():
        for head, t in zip(folded.heads, temperatures):  # heads and temperatures: levels 64, 32, 16, 8
            head.weight.div_(float(t))
            head.bias.div_(float(t))
    return folded


def export_superblock(
    net: SuperblockNet, point: OperatingPoint, path: str | Path, temperatures: list[float] | None = None
) -> Path:
    """Write ``net`` (state_dict and config; its calibration ``temperatures`` folded into its
    heads) with its operating point to ``path``."""
    path = Path(path)
    data = export_bytes(with_temperatures(net, temperatures), point)
    with atomic_output(path) as tmp:
        Path(tmp).write_bytes(data)
    return path


def read_export(path: str | Path) -> tuple[SuperblockConfig, dict[str, torch.Tensor], OperatingPoint]:
    """(config, state_dict, operating point) of an exported file; raises ExportError."""
    data = Path(path).read_bytes()
    if len(data) < HEADER.size:
        raise ExportError(f"{path}: truncated ({len(data)} bytes)")
    magic, version, size, crc, _ = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise ExportError(f"{path}: not an av1tools superblock export (magic {magic!r})")
    if version != VERSION:
        raise ExportError(f"{path}: format version {version}, this av1tools reads {VERSION}")
    payload = data[HEADER.size :]
    if len(payload) != size:
        raise ExportError(f"{path}: payload of {len(payload)} bytes, the header says {size}")
    if zlib.crc32(payload) != crc:
        raise ExportError(f"{path}: checksum mismatch (corrupted)")
    pos = 0

    def take(fmt: str):
        nonlocal pos
        s = struct.Struct("<" + fmt)
        out = s.unpack_from(payload, pos)
        pos += s.size
        return out

    (n,) = take("I")
    widths = take(f"{n}I")
    sb, types, q_embed, scale, q_scale = take("IIIff")
    if (sb, types, q_embed) != (SB, NUM_PARTITIONS, Q_EMBED) or scale != np.float32(BLOCK_SCALE) or q_scale != Q_SCALE:
        raise ExportError(f"{path}: a network other than this av1tools' SuperblockNet")
    point = _point_of(*take("IIdI"))
    context = take("III")
    (length,) = take("I")
    config = SuperblockConfig.from_dict(json.loads(payload[pos : pos + length]))
    pos += length
    if context != (config.margin, int(config.activity), int(config.frame_size)):
        raise ExportError(f"{path}: context inputs {context} differ from its config's")
    if tuple(config.widths) != tuple(widths):
        raise ExportError(f"{path}: widths {widths} differ from its config's {config.widths}")
    (count,) = take("I")
    state = {}
    for _ in range(count):
        (length,) = take("I")
        name = payload[pos : pos + length].decode("ascii")
        pos += length
        (ndim,) = take("I")
        shape = take(f"{ndim}I")
        numel = int(np.prod(shape, dtype=np.int64))
        array = np.frombuffer(payload, dtype="<f4", count=numel, offset=pos).reshape(shape)
        pos += 4 * numel
        state[name] = torch.from_numpy(array.astype(np.float32))
    if pos != len(payload):
        raise ExportError(f"{path}: {len(payload) - pos} bytes left over")
    return config, state, point


def load_export(path: str | Path) -> tuple[SuperblockNet, OperatingPoint]:
    """The network of an exported file, ready to predict, and its operating point."""
    config, state, point = read_export(path)
    net = SuperblockNet(config)
    net.load_state_dict(state)
    return net.eval(), point
