"""IVF splitting, the few frame-header bits read from AV1 OBUs, and the incremental parse of
libaom inspect's JSON output, all on hand-made bytes (no encoder, no decoder)."""

import json
import struct

import pytest

from av1tools.extract.inspect import InspectError, inspect_records
from av1tools.extract.ivf import CodedFrame, FrameHeaderReader, IvfError, IvfSplitter, coded_frames

# ---------------------------------------------------------------------------------------
# hand-made IVF


def ivf_header(frames: int, width: int = 352, height: int = 288, fourcc: bytes = b"AV01") -> bytes:
    header = (
        b"DKIF"
        + struct.pack("<H", 0)  # version
        + struct.pack("<H", 32)  # header length
        + fourcc
        + struct.pack("<HH", width, height)
        + struct.pack("<II", 30, 1)  # rate, scale
        + struct.pack("<I", frames)
        + b"\0\0\0\0"  # unused
    )
    assert len(header) == 32
    return header


def ivf_unit(pts: int, payload: bytes) -> bytes:
    return struct.pack("<I", len(payload)) + struct.pack("<Q", pts) + payload


# pts chosen to exercise all eight bytes of the 64-bit timestamp and a payload size above 255
UNITS = [
    (0, b"\x12\x00\x0a\x0b"),
    (1, bytes(range(256)) + b"tail"),
    (7, b""),
    (2**40 + 3, b"x"),
    (2**63 + 5, b"\xff" * 13),
]


def ivf_stream(units=UNITS) -> bytes:
    return ivf_header(len(units)) + b"".join(ivf_unit(pts, payload) for pts, payload in units)


def feed_chunks(chunks) -> list[tuple[int, bytes]]:
    splitter = IvfSplitter()
    out = []
    for chunk in chunks:
        out += splitter.feed(chunk)
    splitter.finish()
    return out


def test_ivf_stream_is_built_as_documented():
    data = ivf_stream()
    assert data[:4] == b"DKIF"
    assert data[6:8] == b"\x20\x00"
    # first unit: size 4, pts 0, then its payload
    assert data[32:44] == b"\x04\0\0\0" + b"\0" * 8
    assert len(data) == 32 + sum(12 + len(p) for _, p in UNITS)


def test_ivf_whole_stream():
    assert feed_chunks([ivf_stream()]) == UNITS


def test_ivf_every_two_way_split():
    data = ivf_stream()
    for cut in range(len(data) + 1):
        assert feed_chunks([data[:cut], data[cut:]]) == UNITS, cut


def test_ivf_one_byte_chunks():
    data = ivf_stream()
    assert feed_chunks([data[i : i + 1] for i in range(len(data))]) == UNITS


def test_ivf_units_come_out_as_soon_as_complete():
    data = ivf_stream()
    splitter = IvfSplitter()
    first_end = 32 + 12 + len(UNITS[0][1])
    assert splitter.feed(data[: first_end - 1]) == []
    assert splitter.feed(data[first_end - 1 : first_end]) == [UNITS[0]]
    assert splitter.feed(data[first_end:]) == UNITS[1:]
    splitter.finish()


def test_ivf_header_only_is_an_empty_stream():
    assert feed_chunks([ivf_header(0)]) == []


def test_ivf_finish_raises_on_every_truncation():
    data = ivf_stream()
    boundaries = {32}
    end = 32
    for _, payload in UNITS:
        end += 12 + len(payload)
        boundaries.add(end)
    assert end == len(data)
    for length in range(len(data)):
        splitter = IvfSplitter()
        units = splitter.feed(data[:length])
        complete = sum(1 for b in boundaries if 32 < b <= length)
        assert units == UNITS[:complete], length
        if length in boundaries:
            splitter.finish()  # a clean cut between temporal units
        else:
            with pytest.raises(IvfError):
                splitter.finish()


def test_ivf_empty_input_is_truncated():
    splitter = IvfSplitter()
    assert splitter.feed(b"") == []
    with pytest.raises(IvfError):
        splitter.finish()


@pytest.mark.parametrize("signature", [b"RIFF", b"DKIG", b"\0\0\0\0", b"dkif"])
def test_ivf_rejects_other_signatures(signature):
    data = signature + ivf_stream()[4:]
    with pytest.raises(IvfError):
        feed_chunks([data])
    with pytest.raises(IvfError):
        feed_chunks([data[i : i + 1] for i in range(len(data))])


def test_ivf_short_non_ivf_input_raises_at_finish():
    splitter = IvfSplitter()
    assert splitter.feed(b"RIFF....") == []
    with pytest.raises(IvfError):
        splitter.finish()


# ---------------------------------------------------------------------------------------
# hand-made OBUs

OBU_SEQUENCE_HEADER, OBU_TEMPORAL_DELIMITER, OBU_FRAME_HEADER, OBU_TILE_GROUP = 1, 2, 3, 4
OBU_METADATA, OBU_FRAME, OBU_PADDING = 5, 6, 15


def leb128(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def obu(obu_type: int, payload: bytes, *, sized: bool = True, extension: int | None = None) -> bytes:
    header = obu_type << 3
    if extension is not None:
        header |= 0x04
    if sized:
        header |= 0x02
    out = bytes([header])
    if extension is not None:
        out += bytes([extension])
    if sized:
        out += leb128(len(payload))
    return out + payload


def test_obu_helpers():
    assert leb128(0) == b"\x00"
    assert leb128(127) == b"\x7f"
    assert leb128(200) == b"\xc8\x01"
    assert leb128(300) == b"\xac\x02"
    assert obu(OBU_TEMPORAL_DELIMITER, b"") == b"\x12\x00"
    assert obu(OBU_FRAME, b"\x10") == b"\x32\x01\x10"
    assert obu(OBU_FRAME, b"\x10", extension=0x08) == b"\x36\x08\x01\x10"


# first payload byte of an uncompressed header (no reduced still picture header):
# show_existing_frame(1) frame_type(2) show_frame(1), low four bits are later fields
SHOW_EXISTING = 0x80 | 0x05  # frame_to_show_map_idx bits follow
KEY_SHOWN = 0b0_00_1_0110
INTER_HIDDEN = 0b0_01_0_1011
INTER_SHOWN = 0b0_01_1_0000
INTRA_ONLY_SHOWN = 0b0_10_1_1111
SWITCH_HIDDEN = 0b0_11_0_0001

SEQ_HEADER = bytes([0b000_0_0_000]) + b"\x0a\x0b\x0c"  # profile 0, not still, not reduced
SEQ_HEADER_REDUCED = bytes([0b000_1_1_000]) + b"\x0a\x0b"  # still_picture, reduced_still_picture_header
TD = obu(OBU_TEMPORAL_DELIMITER, b"")


def tile_data(n: int) -> bytes:
    return bytes((i * 37 + 11) & 0xFF for i in range(n))


def test_coded_frames_key_hidden_inter_and_show_existing():
    reader = FrameHeaderReader()
    tu0 = TD + obu(OBU_SEQUENCE_HEADER, SEQ_HEADER) + obu(OBU_FRAME, bytes([KEY_SHOWN]) + tile_data(300))
    assert reader.coded_frames(0, tu0) == [CodedFrame(0, 0, 0, True)]

    # a hidden inter frame (an alt-ref) then a shown one; a tile group whose first byte looks
    # like a shown key frame header, and metadata, must be ignored
    tu1 = (
        TD
        + obu(OBU_FRAME, bytes([INTER_HIDDEN]) + tile_data(5))
        + obu(OBU_METADATA, bytes([KEY_SHOWN, 0, 0]))
        + obu(OBU_FRAME_HEADER, bytes([INTER_SHOWN, 0x42]))
        + obu(OBU_TILE_GROUP, bytes([KEY_SHOWN]) + tile_data(140))
    )
    assert reader.coded_frames(4, tu1) == [CodedFrame(1, 4, 1, False), CodedFrame(1, 4, 1, True)]

    # show_existing_frame: nothing coded
    tu2 = TD + obu(OBU_FRAME_HEADER, bytes([SHOW_EXISTING]))
    assert reader.coded_frames(5, tu2) == []

    # temporal unit numbers count calls, pts is whatever the container says
    tu3 = TD + obu(OBU_FRAME, bytes([INTRA_ONLY_SHOWN]) + tile_data(3)) + obu(OBU_PADDING, b"\0\0\0")
    assert reader.coded_frames(2, tu3) == [CodedFrame(3, 2, 2, True)]
    tu4 = obu(OBU_FRAME, bytes([SWITCH_HIDDEN]))
    assert reader.coded_frames(9, tu4) == [CodedFrame(4, 9, 3, False)]


def test_coded_frames_obu_extension_and_unsized_last_obu():
    reader = FrameHeaderReader()
    reader.coded_frames(0, obu(OBU_SEQUENCE_HEADER, SEQ_HEADER))
    # extension byte (temporal/spatial ids) before the size; last OBU without a size field
    # runs to the end of the unit
    unit = obu(OBU_FRAME, bytes([INTER_HIDDEN]) + tile_data(9), extension=0b001_01_000) + obu(
        OBU_FRAME, bytes([KEY_SHOWN]) + tile_data(20), sized=False
    )
    assert reader.coded_frames(3, unit) == [CodedFrame(1, 3, 1, False), CodedFrame(1, 3, 0, True)]


def test_coded_frames_reduced_still_picture_header():
    reader = FrameHeaderReader()
    # with reduced_still_picture_header there is no show_existing_frame/frame_type/show_frame:
    # every frame is a shown key frame, whatever its first bits are
    tu0 = obu(OBU_SEQUENCE_HEADER, SEQ_HEADER_REDUCED) + obu(OBU_FRAME, bytes([SHOW_EXISTING]) + tile_data(4))
    assert reader.coded_frames(0, tu0) == [CodedFrame(0, 0, 0, True)]
    # the flag lasts beyond the temporal unit that carried the sequence header
    tu1 = obu(OBU_FRAME, bytes([INTER_HIDDEN])) + obu(OBU_FRAME_HEADER, bytes([SWITCH_HIDDEN]))
    assert reader.coded_frames(1, tu1) == [CodedFrame(1, 1, 0, True), CodedFrame(1, 1, 0, True)]
    # until a sequence header without it arrives
    tu2 = obu(OBU_SEQUENCE_HEADER, SEQ_HEADER) + obu(OBU_FRAME, bytes([INTER_HIDDEN]))
    assert reader.coded_frames(2, tu2) == [CodedFrame(2, 2, 1, False)]


def test_reduced_still_picture_is_bit_0x08_only():
    reader = FrameHeaderReader()
    # profile 7 and still_picture set, reduced_still_picture_header clear
    unit = obu(OBU_SEQUENCE_HEADER, bytes([0b111_1_0_111])) + obu(OBU_FRAME, bytes([INTER_HIDDEN]))
    assert reader.coded_frames(0, unit) == [CodedFrame(0, 0, 1, False)]


def test_coded_frames_of_an_ivf_file(tmp_path):
    units = [
        (0, TD + obu(OBU_SEQUENCE_HEADER, SEQ_HEADER) + obu(OBU_FRAME, bytes([KEY_SHOWN]) + tile_data(200))),
        (2, TD + obu(OBU_FRAME, bytes([INTER_HIDDEN]) + tile_data(8)) + obu(OBU_FRAME, bytes([INTER_SHOWN]))),
        (3, TD + obu(OBU_FRAME_HEADER, bytes([SHOW_EXISTING]))),
    ]
    path = tmp_path / "clip.ivf"
    data = ivf_stream(units)
    path.write_bytes(data)
    assert coded_frames(path) == [
        CodedFrame(0, 0, 0, True),
        CodedFrame(1, 2, 1, False),
        CodedFrame(1, 2, 1, True),
    ]
    path.write_bytes(data[:-1])
    with pytest.raises(IvfError, match="clip.ivf"):
        coded_frames(path)


# ---------------------------------------------------------------------------------------
# inspect's JSON, record by record

RECORDS = [
    {
        "blockSizeMap": {"BLOCK_4X4": 0, "BLOCK_8X8": 3},
        "blockSize": [[12, 12], [3, 3]],
        "frame": 0,
        "frameType": 0,
        "showFrame": 1,
        "baseQIndex": 120,
        "config": {"a": 1},
        "configString": "x{y}, z",
    },
    {"blockSize": [[3]], "frame": 1, "frameType": 1, "showFrame": 0, "baseQIndex": 130, "config": {}},
    {"blockSize": [[9, 9, 9]], "frame": 2, "frameType": 1, "showFrame": 1, "baseQIndex": 0, "config": {"b": [1]}},
]


def inspect_text(records) -> bytes:
    """inspect's layout: '[', then per frame '{' on its own line, one '  "key": value,' line
    per field (nested maps on the same line), '}' at column 0 then ',', then 'null' and ']'."""
    out = "[\n"
    for record in records:
        fields = [f"  {json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}" for k, v in record.items()]
        out += "{\n" + ",\n".join(fields) + "\n},\n"
    out += "null\n]"
    return out.encode()


class ChunkedStream:
    """A binary stream whose read1() hands out the given chunks, then b"" for ever."""

    def __init__(self, chunks):
        self.chunks = [c for c in chunks if c]
        self.calls = 0

    def read1(self, size: int = -1) -> bytes:
        self.calls += 1
        if not self.chunks:
            return b""
        chunk = self.chunks.pop(0)
        assert size < 0 or len(chunk) <= size
        return chunk


def test_inspect_text_is_valid_json():
    assert json.loads(inspect_text(RECORDS)) == RECORDS + [None]


def test_inspect_records_in_one_chunk():
    assert list(inspect_records(ChunkedStream([inspect_text(RECORDS)]))) == RECORDS


def test_inspect_records_every_cut():
    data = inspect_text(RECORDS)
    for cut in range(1, len(data)):
        assert list(inspect_records(ChunkedStream([data[:cut], data[cut:]]))) == RECORDS, cut


def test_inspect_records_every_pair_of_cuts_around_record_ends():
    data = inspect_text(RECORDS)
    ends = [i for i in range(len(data)) if data.startswith(b"\n},\n", i)]
    assert len(ends) == len(RECORDS)
    near = sorted({p for e in ends for p in range(e - 2, e + 7) if 0 < p < len(data)})
    for a in near:
        for b in range(a + 1, len(data)):
            chunks = [data[:a], data[a:b], data[b:]]
            assert list(inspect_records(ChunkedStream(chunks))) == RECORDS, (a, b)


def test_inspect_records_one_byte_chunks():
    data = inspect_text(RECORDS)
    assert list(inspect_records(ChunkedStream([data[i : i + 1] for i in range(len(data))]))) == RECORDS


def test_inspect_records_are_yielded_while_the_stream_is_open():
    data = inspect_text(RECORDS)
    first_end = data.index(b"\n},\n") + 4
    stream = ChunkedStream([data[:first_end], data[first_end:]])
    records = inspect_records(stream)
    assert next(records) == RECORDS[0]
    assert stream.calls == 1  # the first record came out before the rest was read
    assert list(records) == RECORDS[1:]


def test_inspect_records_no_frames():
    assert list(inspect_records(ChunkedStream([b"[\nnull\n]"]))) == []


def test_inspect_records_truncated_inside_a_record():
    data = inspect_text(RECORDS)
    starts = [i for i in range(len(data)) if data.startswith(b"{\n", i)]
    ends = [i + 4 for i in range(len(data)) if data.startswith(b"\n},\n", i)]
    assert len(starts) == len(ends) == len(RECORDS)
    for k, (start, end) in enumerate(zip(starts, ends)):
        for length in range(start + 1, end):
            records = inspect_records(ChunkedStream([data[:length]]))
            got = []
            with pytest.raises(InspectError):
                for record in records:
                    got.append(record)
            assert got == RECORDS[:k], length  # the complete records before it still come out
    # cut between records (or inside the closing 'null ]'): the complete records, no error
    for length in [ends[0], ends[1], ends[2], ends[2] + 2, len(data) - 1]:
        k = sum(1 for e in ends if e <= length)
        assert list(inspect_records(ChunkedStream([data[:length]]))) == RECORDS[:k], length


# ---------------------------------------------------------------------------------------
# whole headers: the sequence header and the uncompressed frame header up to ref_frame_idx


class Bits:
    """Writes big-endian bit fields (the spec's f(n)); bytes() pads with zero bits."""

    def __init__(self):
        self.bits = []

    def f(self, n: int, value: int) -> "Bits":
        assert 0 <= value < 1 << n
        self.bits += [(value >> (n - 1 - i)) & 1 for i in range(n)]
        return self

    def __bytes__(self) -> bytes:
        bits = self.bits + [0] * (-len(self.bits) % 8)
        return bytes(int("".join(map(str, bits[i : i + 8])), 2) for i in range(0, len(bits), 8))


ORDER_HINT_BITS = 7


def full_sequence_header() -> bytes:
    b = Bits().f(3, 0).f(1, 0).f(1, 0)  # profile, still_picture, reduced_still_picture_header
    b.f(1, 0).f(1, 0).f(5, 0)  # no timing info, no display delay, one operating point
    b.f(12, 0).f(5, 8).f(1, 0)  # operating_point_idc, seq_level_idx 8 (> 7: a tier bit follows)
    b.f(4, 8).f(4, 8).f(9, 351).f(9, 197)  # frame size bits, max size
    b.f(1, 0)  # no frame ids
    b.f(3, 0b011)  # 64x64 superblocks, filter intra, intra edge filter
    b.f(4, 0b1111).f(1, 1).f(2, 0b11)  # compound tools, enable_order_hint, jnt_comp, ref_frame_mvs
    b.f(1, 1).f(1, 1)  # screen content tools and integer mv chosen per frame
    b.f(3, ORDER_HINT_BITS - 1)
    return bytes(b.f(8, 0))  # superres, cdef, restoration... (not read)


def frame_header(frame_type: int, show: bool, order_hint: int, refresh: int | None = None, refs=None) -> bytes:
    b = Bits().f(1, 0).f(2, frame_type).f(1, int(show))
    if not show:
        b.f(1, 1)  # showable_frame
    if not (frame_type == 0 and show):
        b.f(1, 0)  # error_resilient_mode
    b.f(1, 0).f(1, 1).f(1, 0)  # disable_cdf_update, allow_screen_content_tools, force_integer_mv
    b.f(1, 0).f(ORDER_HINT_BITS, order_hint)  # frame_size_override_flag, order_hint
    intra = frame_type in (0, 2)
    if not intra:
        b.f(3, 7)  # primary_ref_frame
    if not (frame_type == 0 and show):
        b.f(8, refresh)
    if not intra:
        b.f(1, 0)  # frame_refs_short_signaling
        for slot in refs:
            b.f(3, slot)
    return bytes(b.f(16, 0xABCD))  # what follows is not read


def show_existing(slot: int) -> bytes:
    return bytes(Bits().f(1, 1).f(3, slot))


def test_full_headers_give_display_indices_and_references():
    reader = FrameHeaderReader()
    tu0 = TD + obu(OBU_SEQUENCE_HEADER, full_sequence_header()) + obu(OBU_FRAME, frame_header(0, True, 0))
    [key] = reader.coded_frames(0, tu0)
    assert (key.order_hint, key.refresh_frame_flags, key.ref_slots, key.display_index) == (0, 0xFF, (), 0)
    assert key.ref_display == (-1,) * 7
    # an alt-ref for display 4 into slot 1, then frame 1 into slot 2 referencing it
    tu1 = (
        TD
        + obu(OBU_FRAME, frame_header(1, False, 4, 0x02, [0] * 7))
        + obu(OBU_FRAME, frame_header(1, True, 1, 0x04, [0, 0, 0, 0, 1, 1, 1]))
    )
    arf, one = reader.coded_frames(1, tu1)
    assert (arf.show_frame, arf.display_index, arf.ref_display) == (False, 4, (0,) * 7)
    assert (one.display_index, one.ref_slots, one.ref_display) == (1, (0, 0, 0, 0, 1, 1, 1), (0, 0, 0, 0, 4, 4, 4))
    tu2 = TD + obu(OBU_FRAME_HEADER, frame_header(1, True, 2, 0x00, [2, 0, 0, 0, 1, 1, 1]))
    [two] = reader.coded_frames(2, tu2)
    assert two.ref_display == (1, 0, 0, 0, 4, 4, 4) and two.refresh_frame_flags == 0
    # display 4 shown by show_existing_frame; a later alt-ref's display counts from it
    assert reader.coded_frames(4, TD + obu(OBU_FRAME_HEADER, show_existing(1))) == []
    [arf2] = reader.coded_frames(4, TD + obu(OBU_FRAME, frame_header(1, False, 8, 0x08, [1] * 7)))
    assert arf2.display_index == 8 and arf2.ref_display == (4,) * 7


def test_hidden_display_index_across_the_order_hint_wrap():
    reader = FrameHeaderReader()
    reader.coded_frames(0, obu(OBU_SEQUENCE_HEADER, full_sequence_header()) + obu(OBU_FRAME, frame_header(0, True, 0)))
    [shown] = reader.coded_frames(126, obu(OBU_FRAME, frame_header(1, True, 126, 0x01, [0] * 7)))
    [hidden] = reader.coded_frames(127, obu(OBU_FRAME, frame_header(1, False, 2, 0x02, [0] * 7)))
    assert (shown.display_index, hidden.display_index) == (126, 130)  # 126 + (2 - 126) mod 128


def test_showing_a_key_frame_again_refreshes_every_slot():
    reader = FrameHeaderReader()
    reader.coded_frames(0, obu(OBU_SEQUENCE_HEADER, full_sequence_header()) + obu(OBU_FRAME, frame_header(0, True, 0)))
    reader.coded_frames(1, obu(OBU_FRAME, frame_header(1, True, 1, 0xFE, [0] * 7)))  # slots 1-7: frame 1
    assert reader.coded_frames(2, obu(OBU_FRAME_HEADER, show_existing(0))) == []  # the key frame again
    [f] = reader.coded_frames(3, obu(OBU_FRAME, frame_header(1, True, 1, 0x00, [1, 2, 3, 4, 5, 6, 7])))
    assert f.ref_display == (0,) * 7  # every slot holds the key frame (display 0) again


def test_a_hidden_key_frame_has_no_display_index_from_order_hints():
    """Order hints restart at a key frame: a hidden one (a forward key frame) cannot be placed
    by its distance to the last shown frame."""
    reader = FrameHeaderReader()
    reader.coded_frames(0, obu(OBU_SEQUENCE_HEADER, full_sequence_header()) + obu(OBU_FRAME, frame_header(0, True, 0)))
    reader.coded_frames(5, obu(OBU_FRAME, frame_header(1, True, 5, 0x01, [0] * 7)))
    [key] = reader.coded_frames(6, obu(OBU_FRAME, frame_header(0, False, 0, 0xFF)))
    assert key.display_index == -1


def test_a_frame_header_cut_short_is_an_error():
    reader = FrameHeaderReader()
    reader.coded_frames(0, obu(OBU_SEQUENCE_HEADER, full_sequence_header()))
    with pytest.raises(IvfError, match="temporal unit 1: frame header: header ends early"):
        reader.coded_frames(1, obu(OBU_FRAME, frame_header(1, True, 1, 0x01, [0] * 7)[:3]))
