"""YUV4MPEG2 (y4m) reading and writing: 4:2:0 at 8 or 10 bits, progressive only."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from av1tools.paths import atomic_output

MAGIC = b"YUV4MPEG2"
MAX_HEADER = 1024
# Colour-space tags we read, and their bit depth; everything else is refused by name.
SUPPORTED_C = {"420": 8, "420jpeg": 8, "420paldv": 8, "420mpeg2": 8, "420p10": 10}


class Y4MError(ValueError):
    """A y4m file that cannot be read; the message names the file (and frame)."""


@dataclass(frozen=True)
class Y4MHeader:
    width: int
    height: int
    fps: Fraction
    bit_depth: int
    colorspace: str
    interlace: str = "p"
    aspect: str = "0:0"

    @property
    def chroma_shape(self) -> tuple[int, int]:
        return (self.height + 1) // 2, (self.width + 1) // 2

    @property
    def sample_bytes(self) -> int:
        return 2 if self.bit_depth > 8 else 1

    @property
    def frame_bytes(self) -> int:
        ch, cw = self.chroma_shape
        return (self.width * self.height + 2 * ch * cw) * self.sample_bytes

    @property
    def dtype(self) -> np.dtype:
        return np.dtype("<u2") if self.bit_depth > 8 else np.dtype(np.uint8)

    def header_line(self) -> bytes:
        c = "420jpeg" if self.bit_depth == 8 else f"420p{self.bit_depth}"
        extra = " XYSCSS=420JPEG" if self.bit_depth == 8 else f" XYSCSS=420P{self.bit_depth}"
        return (
            f"YUV4MPEG2 W{self.width} H{self.height} F{self.fps.numerator}:{self.fps.denominator}"
            f" I{self.interlace} A{self.aspect} C{c}{extra}\n"
        ).encode()


def parse_header(line: bytes, name: str = "<y4m>") -> Y4MHeader:
    """Parse the stream header line (without its newline)."""
    tokens = line.split(b" ")
    if tokens[0] != MAGIC:
        raise Y4MError(f"{name}: not a y4m file (no YUV4MPEG2 signature)")
    fields: dict[str, str] = {}
    for tok in tokens[1:]:
        if tok:
            try:
                fields[chr(tok[0])] = tok[1:].decode("ascii")
            except UnicodeDecodeError:
                raise Y4MError(f"{name}: bad header field {tok[:20]!r}") from None
    try:
        width, height = int(fields["W"]), int(fields["H"])
    except KeyError as e:
        raise Y4MError(f"{name}: header lacks {e.args[0]} (width/height)") from None
    except ValueError:
        raise Y4MError(f"{name}: bad width/height {fields.get('W')!r}x{fields.get('H')!r}") from None
    if width <= 0 or height <= 0 or width > 16384 or height > 16384:
        raise Y4MError(f"{name}: unsupported frame size {width}x{height}")
    fps = _parse_ratio(fields.get("F", "30:1"), name, "frame rate")
    if fps <= 0:
        raise Y4MError(f"{name}: bad frame rate {fields.get('F')!r}")
    interlace = fields.get("I", "p")
    if interlace != "p" and interlace != "?":
        raise Y4MError(f"{name}: interlaced y4m (I{interlace}) is not supported; deinterlace first")
    colorspace = fields.get("C", "420jpeg")
    if colorspace not in SUPPORTED_C:
        raise Y4MError(
            f"{name}: unsupported chroma format C{colorspace}; only 4:2:0 at 8 or 10 bits (C420, C420p10) is supported"
        )
    return Y4MHeader(width, height, fps, SUPPORTED_C[colorspace], colorspace, "p", fields.get("A", "0:0"))


def _parse_ratio(text: str, name: str, what: str) -> Fraction:
    try:
        num, den = text.split(":")
        return Fraction(int(num), int(den))
    except (ValueError, ZeroDivisionError):
        raise Y4MError(f"{name}: bad {what} {text!r}") from None


class Y4MReader:
    """Random access to the frames of a y4m file.

    Opening scans the FRAME markers once (seeking over the pixel data), so a truncated or
    corrupt file is reported up front, naming the frame where it breaks.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.name = str(path)
        try:
            self._f = open(self.path, "rb")
        except FileNotFoundError:
            raise Y4MError(f"{self.name}: no such file") from None
        except IsADirectoryError:
            raise Y4MError(f"{self.name}: is a directory, not a y4m file") from None
        first = self._f.readline(MAX_HEADER)
        if not first.endswith(b"\n"):
            self._f.close()
            raise Y4MError(f"{self.name}: not a y4m file (no header line)")
        self.header = parse_header(first[:-1], self.name)
        self._offsets = self._scan_frames(len(first))

    def _scan_frames(self, pos: int) -> list[int]:
        size = os.fstat(self._f.fileno()).st_size
        offsets = []
        frame_bytes = self.header.frame_bytes
        while pos < size:
            self._f.seek(pos)
            marker = self._f.readline(MAX_HEADER)
            index = len(offsets)
            if (
                not marker.startswith(b"FRAME")
                or not marker.endswith(b"\n")
                or (len(marker) > 6 and marker[5:6] != b" ")
            ):
                raise Y4MError(f"{self.name}: frame {index}: bad FRAME marker at byte {pos}")
            data = pos + len(marker)
            if data + frame_bytes > size:
                raise Y4MError(f"{self.name}: frame {index}: truncated ({size - data} of {frame_bytes} bytes)")
            offsets.append(data)
            pos = data + frame_bytes
        if not offsets:
            raise Y4MError(f"{self.name}: no frames")
        return offsets

    def __len__(self) -> int:
        return len(self._offsets)

    @property
    def width(self) -> int:
        return self.header.width

    @property
    def height(self) -> int:
        return self.header.height

    @property
    def bit_depth(self) -> int:
        return self.header.bit_depth

    def read(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Frame ``index`` as (Y, U, V) planes, uint8 or uint16 (native order)."""
        if not 0 <= index < len(self):
            raise IndexError(f"{self.name}: frame {index} out of range (0..{len(self) - 1})")
        h = self.header
        self._f.seek(self._offsets[index])
        buf = np.frombuffer(self._f.read(h.frame_bytes), dtype=h.dtype)
        ch, cw = h.chroma_shape
        ny, nc = h.width * h.height, ch * cw
        planes = (
            buf[:ny].reshape(h.height, h.width),
            buf[ny : ny + nc].reshape(ch, cw),
            buf[ny + nc :].reshape(ch, cw),
        )
        return tuple(p.astype(p.dtype.newbyteorder("=")) for p in planes)  # type: ignore[return-value]

    def read_luma(self, index: int) -> np.ndarray:
        return self.read(index)[0]

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        for i in range(len(self)):
            yield self.read(i)

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> Y4MReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_y4m(
    path: str | os.PathLike, header: Y4MHeader, frames: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]]
) -> int:
    """Write frames to ``path`` atomically (temp file, then rename); returns the count."""
    path = Path(path)
    count = 0
    with atomic_output(path) as tmp, open(tmp, "wb") as f:
        f.write(header.header_line())
        for planes in frames:
            f.write(b"FRAME\n")
            for plane in planes:
                f.write(np.ascontiguousarray(plane, dtype=header.dtype).tobytes())
            count += 1
    return count
