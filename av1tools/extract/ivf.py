"""IVF container and just enough AV1 OBU parsing to know, per temporal unit, which frames
are coded, which are shown, and which only re-show an earlier frame.

``inspect`` prints one record per coded frame in decode order and none for
show-existing frames; pairing its records with this structure gives every coded frame its
display index (the IVF timestamp of the temporal unit that shows it).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

OBU_SEQUENCE_HEADER = 1
OBU_FRAME_HEADER = 3
OBU_FRAME = 6


class IvfError(ValueError):
    pass


@dataclass(frozen=True)
class CodedFrame:
    temporal_unit: int
    pts: int  # the IVF timestamp of its temporal unit
    frame_type: int  # 0 KEY, 1 INTER, 2 INTRA_ONLY, 3 SWITCH
    show_frame: bool


@dataclass(frozen=True)
class IvfInfo:
    width: int
    height: int
    timebase: tuple[int, int]
    units: list[tuple[int, bytes]]  # (pts, temporal-unit payload)


def read_ivf(path: Path) -> IvfInfo:
    data = Path(path).read_bytes()
    if len(data) < 32 or data[:4] != b"DKIF":
        raise IvfError(f"{path}: not an IVF file")
    header_len = struct.unpack_from("<H", data, 6)[0]
    width, height, tb_den, tb_num = struct.unpack_from("<HHII", data, 12)
    units = []
    pos = header_len
    while pos + 12 <= len(data):
        size, pts = struct.unpack_from("<IQ", data, pos)
        payload = data[pos + 12:pos + 12 + size]
        if len(payload) < size:
            raise IvfError(f"{path}: truncated at temporal unit {len(units)}")
        units.append((pts, payload))
        pos += 12 + size
    return IvfInfo(width, height, (tb_num, tb_den), units)


def _leb128(buf: bytes, pos: int) -> tuple[int, int]:
    value = 0
    for i in range(8):
        byte = buf[pos + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, pos + i + 1
    raise IvfError("bad leb128 size")


def _obus(unit: bytes):
    pos = 0
    while pos < len(unit):
        header = unit[pos]
        obu_type = (header >> 3) & 0xF
        has_ext, has_size = header & 0x4, header & 0x2
        pos += 2 if has_ext else 1
        if has_size:
            size, pos = _leb128(unit, pos)
        else:
            size = len(unit) - pos
        yield obu_type, unit[pos:pos + size]
        pos += size


def coded_frames(path: Path) -> list[CodedFrame]:
    """Every coded (not show-existing) frame of an AV1 IVF file, in decode order."""
    info = read_ivf(path)
    reduced_still = False
    frames = []
    for tu, (pts, unit) in enumerate(info.units):
        for obu_type, payload in _obus(unit):
            if obu_type == OBU_SEQUENCE_HEADER:
                reduced_still = bool(payload[0] & 0x08)  # seq_profile(3) still_picture(1) reduced(1)
            elif obu_type in (OBU_FRAME_HEADER, OBU_FRAME):
                if reduced_still:
                    frames.append(CodedFrame(tu, pts, 0, True))
                    continue
                bits = payload[0]
                if bits & 0x80:  # show_existing_frame: nothing new is coded
                    continue
                frames.append(CodedFrame(tu, pts, (bits >> 5) & 0x3, bool(bits & 0x10)))
    return frames


def decode_frames(path: Path):
    """Decode an AV1 IVF with dav1d (through PyAV), independent of libaom: yields each shown
    frame's planes (Y, U, V) in display order, uint8 or uint16."""
    import av
    import numpy as np

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        codec = av.CodecContext.create("libdav1d", "r")
        packets = [p for p in container.demux(stream) if p.size]
        for packet in packets + [None]:
            try:
                frames = codec.decode(packet)
            except av.error.EOFError:
                frames = []
            for frame in frames:
                ten = "10" in frame.format.name
                fmt = "yuv420p10le" if ten else "yuv420p"
                f = frame.reformat(format=fmt) if frame.format.name != fmt else frame
                dtype = np.uint16 if ten else np.uint8
                planes = []
                for i, plane in enumerate(f.planes):
                    w = frame.width if i == 0 else (frame.width + 1) // 2
                    h = frame.height if i == 0 else (frame.height + 1) // 2
                    row = plane.line_size // np.dtype(dtype).itemsize
                    planes.append(np.frombuffer(plane, dtype=dtype).reshape(-1, row)[:h, :w].copy())
                yield tuple(planes)
