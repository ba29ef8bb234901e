"""The y4m reader: round trips, odd sizes, 10-bit, and every way a file can be bad."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from av1tools.extract.y4m import Y4MError, Y4MHeader, Y4MReader, parse_header, write_y4m


def planes(rng, width, height, bit_depth):
    hi = 1 << bit_depth
    dtype = np.uint8 if bit_depth == 8 else np.uint16
    ch, cw = (height + 1) // 2, (width + 1) // 2
    return (
        rng.integers(0, hi, (height, width)).astype(dtype),
        rng.integers(0, hi, (ch, cw)).astype(dtype),
        rng.integers(0, hi, (ch, cw)).astype(dtype),
    )


@settings(max_examples=40, deadline=None)
@given(
    width=st.integers(1, 70),
    height=st.integers(1, 70),
    frames=st.integers(1, 3),
    bit_depth=st.sampled_from([8, 10]),
    seed=st.integers(0, 2**16),
)
def test_round_trip(tmp_path_factory, width, height, frames, bit_depth, seed):
    rng = np.random.default_rng(seed)
    path = tmp_path_factory.mktemp("y4m") / "clip.y4m"
    header = Y4MHeader(width, height, Fraction(30000, 1001), bit_depth, "420jpeg")
    data = [planes(rng, width, height, bit_depth) for _ in range(frames)]
    assert write_y4m(path, header, data) == frames
    with Y4MReader(path) as r:
        assert (r.width, r.height, r.bit_depth, len(r)) == (width, height, bit_depth, frames)
        assert r.header.fps == Fraction(30000, 1001)
        for i, want in enumerate(data):
            for got, exp in zip(r.read(i), want):
                np.testing.assert_array_equal(got, exp)


@settings(max_examples=60, deadline=None)
@given(junk=st.binary(max_size=200))
def test_arbitrary_bytes_never_crash(tmp_path_factory, junk):
    path = tmp_path_factory.mktemp("y4m") / "junk.y4m"
    path.write_bytes(junk)
    try:
        Y4MReader(path).close()
    except Y4MError as e:
        assert str(path) in str(e) and "\n" not in str(e)


FRAME_BYTES = 6 + 16 * 12 + 2 * 8 * 6  # "FRAME\n" and a 16x12 4:2:0 picture


@settings(max_examples=40, deadline=None)
@given(cut=st.integers(1, 2 * FRAME_BYTES - 1))
def test_truncated_file_names_frame(tmp_path_factory, cut):
    assume(cut % FRAME_BYTES)  # cutting whole frames off leaves a shorter, valid file
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("y4m") / "t.y4m"
    header = Y4MHeader(16, 12, Fraction(25), 8, "420")
    write_y4m(path, header, [planes(rng, 16, 12, 8)] * 3)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - cut])
    with pytest.raises(Y4MError, match=r"frame [12]: (truncated|bad FRAME marker)"):
        Y4MReader(path)


@pytest.mark.parametrize(
    "line,message",
    [
        (b"YUV4MPEG2 W16 H16 F30:1 It C420", "interlaced"),
        (b"YUV4MPEG2 W16 H16 F30:1 Ib C420", "interlaced"),
        (b"YUV4MPEG2 W16 H16 F30:1 C444", "unsupported chroma format C444"),
        (b"YUV4MPEG2 W16 H16 F30:1 C422", "unsupported chroma format C422"),
        (b"YUV4MPEG2 W16 H16 F30:1 Cmono", "unsupported chroma format Cmono"),
        (b"YUV4MPEG2 W16 H16 F30:1 C420p12", "unsupported chroma format C420p12"),
        (b"YUV4MPEG2 H16 F30:1", "lacks W"),
        (b"YUV4MPEG2 Wx H16", "bad width/height"),
        (b"YUV4MPEG2 W0 H16", "unsupported frame size"),
        (b"YUV4MPEG2 W16 H16 F30:0", "bad frame rate"),
        (b"YUV4MPEG W16 H16", "not a y4m file"),
    ],
)
def test_bad_headers(line, message):
    with pytest.raises(Y4MError, match=message):
        parse_header(line, "clip.y4m")


def test_header_fields_and_frame_parameters(tmp_path):
    path = tmp_path / "p.y4m"
    body = bytes(range(6 * 4 + 2 * 3 * 2))
    path.write_bytes(
        b"YUV4MPEG2 W6 H4 F25:1 Ip A1:1 C420mpeg2 XCOLORRANGE=FULL\n" + b"FRAME Ixyz\n" + body + b"FRAME\n" + body
    )
    with Y4MReader(path) as r:
        assert len(r) == 2 and r.header.aspect == "1:1" and r.header.fps == 25
        y, u, v = r.read(1)
        assert y.shape == (4, 6) and u.shape == (2, 3)
        assert y[0, 1] == 1 and v[-1, -1] == len(body) - 1


def test_bad_frame_marker_names_frame(tmp_path):
    path = tmp_path / "m.y4m"
    frame = bytes(4 * 4 + 2 * 2 * 2)
    path.write_bytes(b"YUV4MPEG2 W4 H4 C420\nFRAME\n" + frame + b"FRAMX\n" + frame)
    with pytest.raises(Y4MError, match=r"m.y4m: frame 1: bad FRAME marker"):
        Y4MReader(path)


def test_missing_and_empty(tmp_path):
    with pytest.raises(Y4MError, match="no such file"):
        Y4MReader(tmp_path / "nope.y4m")
    (tmp_path / "e.y4m").write_bytes(b"YUV4MPEG2 W4 H4 C420\n")
    with pytest.raises(Y4MError, match="no frames"):
        Y4MReader(tmp_path / "e.y4m")
