"""The patched encoder's interface, in one place: the environment variables av1tools' libaom
patch reads (third_party/libaom/patches/, documented in docs/guided.md), the decision-file
format it reads and the counters file it writes.

- ``AV1TOOLS_PARTITION_MAP``: per coded frame (source timestamp = display index, hidden
  flag) and square block (mi_row, mi_col, size), a bit mask of the partition types the RD
  search may try. One bit replaces the search with that type; several prune it to those;
  blocks not listed are searched as usual; at blocks crossing the frame edge the mask is
  narrowed to what the edge allows.
- ``AV1TOOLS_PARTITION_STATS``: one line per coded frame counting and timing the search.
- ``AV1TOOLS_EXACT_GUIDE=1``: the speed features that tie a block's search to types tried
  before it, or to other blocks' searches, are off (the oracle then reproduces the
  baseline bit for bit).
- ``AV1TOOLS_FRAME_RECORDS``: one binary record per coded frame (hidden alt-refs
  included): its source timestamp, type, gf-group position, references and the luma the
  encoder actually coded (``read_frame_records``).
- ``AV1TOOLS_NODE_TIMES`` (with the counters file): every node's search timed where it
  stands (``read_node_times``): what the speed-up simulation costs a map's nodes by.
- ``AV1TOOLS_INTRA_CNN=0``: libaom's own intra partition CNN off.
- ``AV1TOOLS_MODEL`` (+ ``_POINT``, ``_DUMP``, ``_KERNELS``): the encoder runs an exported
  superblock model itself (``av1tools.native``).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from av1tools.partition import MI_SIZE, Partition
from av1tools.paths import atomic_output

MAP_ENV = "AV1TOOLS_PARTITION_MAP"
STATS_ENV = "AV1TOOLS_PARTITION_STATS"
EXACT_ENV = "AV1TOOLS_EXACT_GUIDE"
MODEL_ENV = "AV1TOOLS_MODEL"  # an exported superblock model the encoder runs itself
POINT_ENV = "AV1TOOLS_MODEL_POINT"  # its operating point, overriding the file's
DUMP_ENV = "AV1TOOLS_MODEL_DUMP"  # where it writes the allowed set it used at every node
KERNELS_ENV = "AV1TOOLS_MODEL_KERNELS"  # c | vector4 | auto
RECORDS_ENV = "AV1TOOLS_FRAME_RECORDS"  # where the encoder writes one record per coded frame
NODES_ENV = "AV1TOOLS_NODE_TIMES"  # where the encoder writes every node's search time
INTRA_CNN_ENV = "AV1TOOLS_INTRA_CNN"  # 0: libaom's own intra partition CNN off (the swap); unset: libaom's
# what encoder_env removes from an inherited environment (the kernels choice stays: every
# kernel computes the same bits, and a user may want the slower ones)
CLEARED_ENVS = (MAP_ENV, STATS_ENV, EXACT_ENV, MODEL_ENV, POINT_ENV, DUMP_ENV, RECORDS_ENV, NODES_ENV, INTRA_CNN_ENV)
MAP_HEADER = "av1tools-partition-map 1\n"
STAT_SIZES = (128, 64, 32, 16, 8, 4)  # the patch's node-size order in its counters
STAT_SIZE_ROW = {s: i for i, s in enumerate(STAT_SIZES)}
SPLIT_BIT = 1 << Partition.SPLIT  # mask bit p allows partition type p


@dataclass(frozen=True)
class MapEntry:
    display_index: int  # the source frame's timestamp
    x: int
    y: int
    size: int
    mask: int  # bit p: partition type p allowed
    hidden: bool = False
    guided: bool = True  # False: the node keeps libaom's normal search (not written to the map)


def write_partition_map(path: Path, entries: Iterable[MapEntry]) -> int:
    """Write a decision file atomically; returns the number of blocks it constrains."""
    n = 0
    with atomic_output(path) as tmp, open(tmp, "w") as f:
        f.write(MAP_HEADER)
        for e in entries:
            if not e.guided:
                continue
            if not 0 < e.mask < 1 << 10:
                raise ValueError(f"partition mask {e.mask} out of range at {e}")
            f.write(f"{e.display_index} {int(e.hidden)} {e.y // MI_SIZE} {e.x // MI_SIZE} {e.size} {e.mask}\n")
            n += 1
    return n


@dataclass(frozen=True)
class FrameCounters:
    """One coded frame's line from AV1TOOLS_PARTITION_STATS (docs/guided.md)."""

    display_index: int  # source timestamp
    show_frame: bool
    frame_type: int
    nodes: int  # partition-search nodes visited
    partition_evals: int  # (node, partition type) pairs evaluated
    mode_searches: int  # RD mode searches of a block that ran (reused results not counted)
    mode_pixels: int  # luma pixels those mode searches covered
    frame_ns: int  # the frame's encode time
    node_count: np.ndarray  # (6,) per node size (STAT_SIZES): nodes searched
    node_ns: np.ndarray  # (6,) their time, sub-blocks included
    type_count: np.ndarray  # (6, 10) per node size and type: evaluations
    type_ns: np.ndarray  # (6, 10) their own time (a SPLIT's excludes its sub-blocks' searches)
    network_ns: int = 0  # AV1TOOLS_MODEL: the network's CPU time in this frame (older lines: 0)
    network_calls: int = 0  # and its forward passes (one per superblock searched)
    # Nodes a map or model guided (a set, not libaom's normal search) and, per node size,
    # the guided and the unguided nodes with their time (sub-blocks included); None on
    # lines written before the patch counted them.
    guided_nodes: int | None = None
    guided_count: np.ndarray | None = None  # (6,)
    guided_ns: np.ndarray | None = None  # (6,)
    unguided_count: np.ndarray | None = None  # (6,)
    unguided_ns: np.ndarray | None = None  # (6,)


STATS_FIELDS = 143 + 4 * len(STAT_SIZES)  # the newest line; older ones are prefixes of it
_OLD_STATS_FIELDS = (140, 142)  # before the network's time, before the guided counts


def _stats_values(path: Path, number: int, line: str) -> np.ndarray:
    try:
        v = np.array([int(x) for x in line.split()], dtype=np.int64)
    except ValueError:
        raise ValueError(f"{path}: line {number} is not a counters line (a field is not an integer)") from None
    if len(v) not in (*_OLD_STATS_FIELDS, STATS_FIELDS):
        raise ValueError(f"{path}: line {number} has {len(v)} fields, not {STATS_FIELDS} (or an older count)")
    return v


def read_stats(path: Path) -> list[FrameCounters]:
    """Every line of an AV1TOOLS_PARTITION_STATS file (lines of older patches too: the
    fields they lack read as 0 for the network and None for the guided counts)."""
    out = []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        v = _stats_values(Path(path), number, line)
        sizes = v[8:20].reshape(6, 2)
        types = v[20:140].reshape(6, 10, 2)
        network = v[140:142] if len(v) >= 142 else (0, 0)  # appended by the native-model patch
        guided: dict = {}
        if len(v) == STATS_FIELDS:
            per_size = v[143:].reshape(len(STAT_SIZES), 4)
            guided = dict(
                guided_nodes=int(v[142]),
                guided_count=per_size[:, 0],
                guided_ns=per_size[:, 1],
                unguided_count=per_size[:, 2],
                unguided_ns=per_size[:, 3],
            )
        out.append(
            FrameCounters(
                int(v[0]),
                bool(v[1]),
                int(v[2]),
                *map(int, v[3:8]),
                sizes[:, 0],
                sizes[:, 1],
                types[..., 0],
                types[..., 1],
                int(network[0]),
                int(network[1]),
                **guided,
            )
        )
    return out


def counter_totals(counters: list[FrameCounters]) -> dict[str, int]:
    return {
        name: sum(getattr(c, name) for c in counters)
        for name in ("nodes", "partition_evals", "mode_searches", "mode_pixels", "frame_ns")
    }


def encoder_env(
    map_path: Path | None,
    stats_path: Path | None,
    exact: bool | None = None,
    records: Path | None = None,
    intra_cnn: bool = True,
    nodes: Path | None = None,
) -> dict[str, str]:
    """This process's environment with the patch's variables set as given (and any inherited
    ones removed): a map, a counters file, the exact switch (None: left out), a frame
    records file, libaom's intra partition CNN (False: off), a node times file (needs the
    counters file)."""
    env = dict(os.environ)
    for name in CLEARED_ENVS:
        env.pop(name, None)
    if map_path is not None:
        env[MAP_ENV] = str(map_path)
    if stats_path is not None:
        env[STATS_ENV] = str(stats_path)
    if exact is not None:
        env[EXACT_ENV] = "1" if exact else "0"
    if records is not None:
        env[RECORDS_ENV] = str(records)
    if not intra_cnn:
        env[INTRA_CNN_ENV] = "0"
    if nodes is not None:
        env[NODES_ENV] = str(nodes)
    return env


# ---------------------------------------------------------------------------------------
# Node times (AV1TOOLS_NODE_TIMES), little-endian int64s: "AV1TNODE", the field count (19),
# then per node searched (children before their parent): pts, hidden, mi_row, mi_col,
# size, guided, the mask of the types evaluated, its time with its sub-blocks and without,
# and each partition type's own time (0..9).
NODES_MAGIC = b"AV1TNODE"
NODE_FIELDS = ("pts", "hidden", "mi_row", "mi_col", "size", "guided", "types", "ns", "own_ns")
NODE_TYPES = 10


@dataclass(frozen=True)
class NodeTimes:
    """Every node one encode searched: ``fields`` (nodes, 9) in NODE_FIELDS order and
    ``type_ns`` (nodes, 10), each type's own time at the node (0 where not evaluated)."""

    fields: np.ndarray
    type_ns: np.ndarray

    def column(self, name: str) -> np.ndarray:
        return self.fields[:, NODE_FIELDS.index(name)]

    def __len__(self) -> int:
        return len(self.fields)


def read_node_times(path: Path) -> NodeTimes:
    """A finished AV1TOOLS_NODE_TIMES file; ValueError naming it if it is not one."""
    raw = np.fromfile(path, dtype="<i8")
    width = len(NODE_FIELDS) + NODE_TYPES
    if len(raw) < 2 or raw[:1].tobytes() != NODES_MAGIC or raw[1] != width or (len(raw) - 2) % width:
        raise ValueError(f"{path}: not an av1tools node times file (or cut short)")
    rows = raw[2:].reshape(-1, width)
    return NodeTimes(rows[:, : len(NODE_FIELDS)], rows[:, len(NODE_FIELDS) :])


# ---------------------------------------------------------------------------------------
# Frame records (AV1TOOLS_FRAME_RECORDS), little-endian:
#   header  char[8] "AV1TFREC" | u32 version (1) | u32 record header bytes (104)
#   record  u32 record bytes (header + luma) | i32 coded index | i64 pts | i32 order_hint
#           | i32 base_qindex | u8 show_frame, frame_type, update_type, layer_depth,
#           refresh_frame_flags, showable_frame, bytes per sample, 0 | u8 ref slot[7], 0
#           | i64 ref pts[7] | u32 width, u32 height | luma (height x width samples)
RECORDS_MAGIC = b"AV1TFREC"
RECORDS_VERSION = 1
_RECORDS_HEADER = struct.Struct("<8sII")
_RECORD = struct.Struct("<Iiqii8B7Bx7qII")
# libaom's FRAME_UPDATE_TYPE (ratectrl.h): the frame's role in its golden-frame group
UPDATE_TYPES = ("KF", "LF", "GF", "ARF", "OVERLAY", "INTNL_OVERLAY", "INTNL_ARF")
NO_REF = 255  # ref slot of an intra frame


class RecordsError(ValueError):
    """A frame records file that is not one this av1tools reads; the message names it."""


@dataclass(frozen=True)
class FrameRecord:
    """One coded frame as the encoder saw it (hidden alt-refs included)."""

    coded_index: int  # coding (= decode) order among coded frames
    pts: int  # source timestamp = display index (an alt-ref: the frame it stands for)
    order_hint: int  # as in the frame header (modulo 2^order_hint_bits)
    base_qindex: int
    show_frame: bool
    frame_type: int  # 0 KEY, 1 INTER, 2 INTRA_ONLY, 3 SWITCH
    update_type: int  # UPDATE_TYPES index
    pyramid_level: int  # the gf group's layer depth
    refresh_frame_flags: int
    showable_frame: bool
    ref_slots: tuple[int, ...]  # LAST..ALTREF: the reference buffer slot (-1 intra frames)
    ref_display: tuple[int, ...]  # LAST..ALTREF: the display index in it (-1: none)
    luma: np.ndarray  # (height, width) uint8 or uint16: the picture coded (filtered or not)


def _record_error(path: Path, what: str) -> RecordsError:
    return RecordsError(f"{path}: {what}")


class RecordReader:
    """Reads a frame records file record by record, while the encoder still writes it
    (the encoder flushes each record before aomenc outputs the frame's packet)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.file: BinaryIO | None = None
        self.count = 0

    def _open(self) -> BinaryIO:
        try:
            f = open(self.path, "rb")
        except FileNotFoundError:
            raise _record_error(self.path, "no frame records (the encoder is not av1tools-patched?)") from None
        head = f.read(_RECORDS_HEADER.size)
        if len(head) < _RECORDS_HEADER.size or head[:8] != RECORDS_MAGIC:
            f.close()
            raise _record_error(self.path, "not an av1tools frame records file")
        _, version, fields = _RECORDS_HEADER.unpack(head)
        if version != RECORDS_VERSION or fields != _RECORD.size:
            f.close()
            raise _record_error(
                self.path, f"frame records version {version} ({fields}-byte records), not {RECORDS_VERSION}"
            )
        return f

    def next(self) -> FrameRecord | None:
        """The next record; None at the end of what is written so far."""
        if self.file is None:
            self.file = self._open()
        head = self.file.read(_RECORD.size)
        if not head:
            return None
        if len(head) < _RECORD.size:
            raise _record_error(self.path, f"record {self.count} is truncated")
        v = _RECORD.unpack(head)
        size, coded, pts, order_hint, qindex = v[:5]
        show, ftype, update, level, refresh, showable, bps, _ = v[5:13]
        slots, ref_pts, (w, h) = v[13:20], v[20:27], v[27:29]
        luma_bytes = size - _RECORD.size
        if bps not in (1, 2) or luma_bytes != w * h * bps:
            raise _record_error(self.path, f"record {self.count} is malformed ({w}x{h}, {bps} bytes per sample)")
        data = self.file.read(luma_bytes)
        if len(data) < luma_bytes:
            raise _record_error(self.path, f"record {self.count} is truncated")
        luma = np.frombuffer(data, dtype=np.uint8 if bps == 1 else "<u2").reshape(h, w)
        self.count += 1
        return FrameRecord(
            coded,
            pts,
            order_hint,
            qindex,
            bool(show),
            ftype,
            update,
            level,
            refresh,
            bool(showable),
            tuple(-1 if s == NO_REF else s for s in slots),
            tuple(int(p) for p in ref_pts),
            luma.astype(np.uint16) if bps == 2 else luma,
        )

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


def read_frame_records(path: Path) -> list[FrameRecord]:
    """Every record of a finished AV1TOOLS_FRAME_RECORDS file, in coding order."""
    reader = RecordReader(path)
    try:
        out = []
        while (record := reader.next()) is not None:
            out.append(record)
        return out
    finally:
        reader.close()
