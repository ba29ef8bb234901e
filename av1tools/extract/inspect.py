"""libaom ``inspect`` output -> per-frame block-size grids, each placed in display order."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from av1tools.extract.ivf import CodedFrame
from av1tools.partition import BLOCK_SIZES, block_size_name

RECORD_END = b"\n},\n"  # inspect closes each frame's object at column 0


class InspectError(ValueError):
    pass


@dataclass(frozen=True)
class FrameGrid:
    decode_index: int
    # source frame index; for a hidden frame (an alt-ref) the one it stands for, from the
    # bitstream's order hints (-1 where the stream's headers could not be read)
    display_index: int
    frame_type: int
    show_frame: bool
    base_qindex: int
    block_size: np.ndarray  # [mi_rows][mi_cols] BLOCK_SIZE enums, uint8
    qindex: np.ndarray  # [mi_rows][mi_cols] qindex as coded (base + delta-q)
    order_hint: int = -1  # inspect's "frame": the frame header's order hint

    @property
    def hidden(self) -> bool:
        return not self.show_frame


def inspect_records(stream: BinaryIO) -> Iterator[dict]:
    """Parse inspect's JSON array record by record as it is printed, so frames can be
    processed while the encoder is still running."""
    buf = b""
    while chunk := stream.read1(1 << 16):
        buf += chunk
        while (end := buf.find(RECORD_END)) >= 0:
            start = buf.find(b"{")
            yield json.loads(buf[start : end + 2])
            buf = buf[end + len(RECORD_END) :]
    if b"{" in buf:  # what may remain is the closing "null ]"
        raise InspectError("inspect output ended inside a frame record")


def _check_block_size_map(record: dict) -> None:
    for name, index in record.get("blockSizeMap", {}).items():
        if index < len(BLOCK_SIZES) and block_size_name(index) != name:
            raise InspectError(f"inspect's {name}={index} disagrees with av1tools' block sizes")


def frame_grid(record: dict, coded: CodedFrame, decode_index: int) -> FrameGrid:
    """One inspect record, placed by the bitstream's own frame structure. A shown frame's
    display index is its temporal unit's timestamp (aomenc stamps source frame i with pts i)."""
    if decode_index == 0:
        _check_block_size_map(record)
    show = bool(record["showFrame"])
    order_hint = int(record.get("frame", -1))
    if (
        show != coded.show_frame
        or record["frameType"] != coded.frame_type
        or (coded.order_hint is not None and order_hint != coded.order_hint)
    ):
        raise InspectError(f"frame {decode_index}: inspect and bitstream headers disagree")
    block_size = np.asarray(record["blockSize"], dtype=np.uint8)
    qindex = (
        np.asarray(record["delta_q"], dtype=np.uint8)
        if record.get("deltaQPresentFlag")
        else np.full(block_size.shape, record["baseQIndex"], dtype=np.uint8)
    )
    hidden_display = coded.display_index if coded.display_index is not None else -1
    return FrameGrid(
        decode_index,
        coded.pts if show else hidden_display,
        record["frameType"],
        show,
        record["baseQIndex"],
        block_size,
        qindex,
        order_hint,
    )
