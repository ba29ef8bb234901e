"""IVF container and just enough AV1 OBU parsing to know, per temporal unit, which frames
are coded, which are shown, and which only re-show an earlier frame.

``inspect`` prints one record per coded frame in decode order and none for
show-existing frames; pairing its records with this structure gives every coded frame its
display index (the IVF timestamp of the temporal unit that shows it).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IVF_HEADER_BYTES = 32
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


class IvfSplitter:
    """Cuts an IVF byte stream, fed in arbitrary chunks, into (pts, temporal unit) pairs."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.header: bytes | None = None

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self.buf += data
        if self.header is None:
            if len(self.buf) < IVF_HEADER_BYTES:
                return []
            if self.buf[:4] != b"DKIF":
                raise IvfError("not an IVF stream")
            header_len = struct.unpack_from("<H", self.buf, 6)[0]
            if header_len < IVF_HEADER_BYTES:
                raise IvfError(f"IVF header length {header_len} is below {IVF_HEADER_BYTES}")
            if len(self.buf) < header_len:  # a longer header, not all of it here yet
                return []
            self.header = bytes(self.buf[:header_len])
            del self.buf[:header_len]
        units = []
        while len(self.buf) >= 12:
            size, pts = struct.unpack_from("<IQ", self.buf, 0)
            if len(self.buf) < 12 + size:
                break
            units.append((pts, bytes(self.buf[12 : 12 + size])))
            del self.buf[: 12 + size]
        return units

    def finish(self) -> None:
        if self.header is None or self.buf:
            raise IvfError("truncated IVF stream")


def _leb128(buf: bytes, pos: int) -> tuple[int, int]:
    value = 0
    for i in range(8):
        byte = buf[pos + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, pos + i + 1
    raise IvfError("bad leb128 size")


def _obus(unit: bytes) -> Iterator[tuple[int, bytes]]:
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
        yield obu_type, unit[pos : pos + size]
        pos += size


class FrameHeaderReader:
    """Reads the first bits of each frame header (enough for show/type), temporal unit by
    temporal unit; keeps the one sequence-header flag that changes their layout."""

    def __init__(self) -> None:
        self.reduced_still_picture = False
        self.units = 0

    def coded_frames(self, pts: int, unit: bytes) -> list[CodedFrame]:
        tu = self.units
        self.units += 1
        frames = []
        for obu_type, payload in _obus(unit):
            if obu_type == OBU_SEQUENCE_HEADER:
                # seq_profile(3) still_picture(1) reduced_still_picture_header(1)
                self.reduced_still_picture = bool(payload[0] & 0x08)
            elif obu_type in (OBU_FRAME_HEADER, OBU_FRAME):
                if self.reduced_still_picture:
                    frames.append(CodedFrame(tu, pts, 0, True))
                    continue
                bits = payload[0]
                if bits & 0x80:  # show_existing_frame: nothing new is coded
                    continue
                frames.append(CodedFrame(tu, pts, (bits >> 5) & 0x3, bool(bits & 0x10)))
        return frames


def coded_frames(path: Path) -> list[CodedFrame]:
    """Every coded (not show-existing) frame of an AV1 IVF file, in decode order."""
    splitter, reader = IvfSplitter(), FrameHeaderReader()
    frames = []
    for pts, unit in splitter.feed(Path(path).read_bytes()):
        frames += reader.coded_frames(pts, unit)
    try:
        splitter.finish()
    except IvfError as e:
        raise IvfError(f"{path}: {e}") from None
    return frames


def set_frame_count(path: Path, count: int) -> None:
    """Write the IVF header's frame count (a streamed IVF starts with 0 there)."""
    with open(path, "r+b") as f:
        f.seek(24)
        f.write(struct.pack("<I", count))


def decode_frames(path: Path) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Decode an AV1 IVF with dav1d (through PyAV), independent of libaom: yields each shown
    frame's planes (Y, U, V) in display order, uint8 or uint16."""
    import av

    from av1tools.extract.sequences import av_frame_planes

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
                yield av_frame_planes(frame)
