"""libaom ``inspect`` output -> per-frame block-size grids, each placed in display order."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from av1tools.extract.ivf import coded_frames
from av1tools.partition import BLOCK_SIZES, block_size_name


class InspectError(ValueError):
    pass


@dataclass(frozen=True)
class FrameGrid:
    decode_index: int
    display_index: int  # source frame index; -1 for hidden frames (e.g. alt-refs)
    frame_type: int
    show_frame: bool
    base_qindex: int
    block_size: np.ndarray  # [mi_rows][mi_cols] BLOCK_SIZE enums, uint8
    qindex: np.ndarray  # [mi_rows][mi_cols] qindex as coded (base + delta-q)


def parse_inspect_json(text: bytes | str) -> list[dict]:
    records = json.loads(text)
    if not isinstance(records, list):
        raise InspectError("inspect output is not a JSON array")
    return [r for r in records if r is not None]


def _check_block_size_map(record: dict) -> None:
    names = record.get("blockSizeMap")
    if names is None:
        return
    for name, index in names.items():
        if index < len(BLOCK_SIZES) and block_size_name(index) != name:
            raise InspectError(f"inspect's {name}={index} disagrees with av1tools' block sizes")


def frame_grids(inspect_json: bytes | str, ivf: Path, timebase_per_frame: int = 1) -> list[FrameGrid]:
    """Pair inspect's records (one per coded frame, decode order) with the IVF's frame
    structure. A shown frame's display index is its temporal unit's timestamp divided by
    ``timebase_per_frame`` (aomenc stamps frame i with pts i)."""
    records = parse_inspect_json(inspect_json)
    structure = coded_frames(ivf)
    if len(records) != len(structure):
        raise InspectError(f"{ivf}: inspect printed {len(records)} frames, "
                           f"the bitstream codes {len(structure)}")
    grids = []
    for i, (rec, coded) in enumerate(zip(records, structure)):
        if i == 0:
            _check_block_size_map(rec)
        show = bool(rec["showFrame"])
        if show != coded.show_frame or rec["frameType"] != coded.frame_type:
            raise InspectError(f"{ivf}: frame {i}: inspect and bitstream headers disagree")
        block_size = np.asarray(rec["blockSize"], dtype=np.uint8)
        qindex = (np.asarray(rec["delta_q"], dtype=np.uint8) if rec.get("deltaQPresentFlag")
                  else np.full(block_size.shape, rec["baseQIndex"], dtype=np.uint8))
        display = coded.pts // timebase_per_frame if show else -1
        grids.append(FrameGrid(i, display, rec["frameType"], show, rec["baseQIndex"],
                               block_size, qindex))
    return grids
