"""IVF container and just enough AV1 OBU parsing to know, per temporal unit, which frames
are coded, which are shown, and which only re-show an earlier frame; and, from the
sequence header and each frame's uncompressed header, its order hint, the reference slots
it refreshes and the slots its seven references use (AV1 spec 5.5 and 5.9.2).

``inspect`` prints one record per coded frame in decode order and none for
show-existing frames; pairing its records with this structure gives every coded frame its
display index (the IVF timestamp of the temporal unit that shows it; for a hidden frame,
the last shown frame's plus the forward distance of their order hints). This reading is
independent of libaom's encoder: tests compare it with the encoder's frame records.
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


KEY_FRAME, INTRA_ONLY_FRAME, SWITCH_FRAME = 0, 2, 3
SELECT = 2  # seq_force_screen_content_tools / seq_force_integer_mv: chosen per frame
REFS_PER_FRAME = 7  # LAST..ALTREF
REF_SLOTS = 8


class IvfError(ValueError):
    pass


@dataclass(frozen=True)
class CodedFrame:
    temporal_unit: int
    pts: int  # the IVF timestamp of its temporal unit
    frame_type: int  # 0 KEY, 1 INTER, 2 INTRA_ONLY, 3 SWITCH
    show_frame: bool
    # From the uncompressed header, when the stream's sequence header was read (else None):
    order_hint: int | None = None
    refresh_frame_flags: int | None = None
    ref_slots: tuple[int, ...] | None = None  # ref_frame_idx[7] (LAST..ALTREF); () if intra
    display_index: int | None = None  # shown: pts; hidden: derived from the order hints
    ref_display: tuple[int, ...] | None = None  # the display index in each ref slot (-1: none)


class BitReader:
    """Big-endian bit fields, f(n) in the AV1 spec; running past the end raises IvfError."""

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def f(self, n: int) -> int:
        if self.pos + n > 8 * len(self.data):
            raise IvfError("header ends early")
        value = 0
        for _ in range(n):
            value = (value << 1) | ((self.data[self.pos >> 3] >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return value

    def uvlc(self) -> int:
        zeros = 0
        while not self.f(1):
            zeros += 1
            if zeros >= 32:
                return (1 << 32) - 1
        return self.f(zeros) + (1 << zeros) - 1


@dataclass(frozen=True)
class SequenceInfo:
    """What a frame header's layout depends on (spec 5.5)."""

    reduced_still_picture: bool
    decoder_model_info: bool = False
    equal_picture_interval: bool = False
    buffer_removal_time_bits: int = 0
    frame_presentation_time_bits: int = 0
    op_idc: tuple[int, ...] = ()  # per operating point with a decoder model: its idc
    frame_id_bits: int = 0  # 0: no frame ids
    delta_frame_id_bits: int = 0
    force_screen_content_tools: int = 0
    force_integer_mv: int = SELECT
    order_hint_bits: int = 0


def parse_sequence_header(payload: bytes) -> SequenceInfo:
    r = BitReader(payload)
    r.f(3)  # seq_profile
    r.f(1)  # still_picture
    reduced = bool(r.f(1))
    decoder_model = equal_interval = False
    removal_bits = presentation_bits = delay_bits = 0
    op_idc: list[int] = []
    if reduced:
        r.f(5)  # seq_level_idx[0]
    else:
        if r.f(1):  # timing_info_present_flag
            r.f(32)  # num_units_in_display_tick
            r.f(32)  # time_scale
            equal_interval = bool(r.f(1))
            if equal_interval:
                r.uvlc()  # num_ticks_per_picture_minus_1
            decoder_model = bool(r.f(1))
            if decoder_model:
                delay_bits = r.f(5) + 1
                r.f(32)  # num_units_in_decoding_tick
                removal_bits = r.f(5) + 1
                presentation_bits = r.f(5) + 1
        display_delay = r.f(1)
        for _ in range(r.f(5) + 1):  # operating points
            idc = r.f(12)
            if r.f(5) > 7:  # seq_level_idx
                r.f(1)  # seq_tier
            if decoder_model and r.f(1):  # decoder_model_present_for_this_op
                r.f(delay_bits)  # decoder_buffer_delay
                r.f(delay_bits)  # encoder_buffer_delay
                r.f(1)  # low_delay_mode_flag
                op_idc.append(idc)
            elif decoder_model:
                op_idc.append(-1)  # no model for this operating point
            if display_delay and r.f(1):
                r.f(4)
    width_bits, height_bits = r.f(4) + 1, r.f(4) + 1
    r.f(width_bits)
    r.f(height_bits)
    frame_id_bits = delta_bits = 0
    if not reduced and r.f(1):  # frame_id_numbers_present_flag
        delta_bits = r.f(4) + 2
        frame_id_bits = r.f(3) + 1 + delta_bits
    r.f(3)  # use_128x128_superblock, enable_filter_intra, enable_intra_edge_filter
    screen, integer_mv, order_hint_bits = SELECT, SELECT, 0
    if not reduced:
        r.f(4)  # interintra, masked compound, warped motion, dual filter
        order_hint = r.f(1)
        if order_hint:
            r.f(2)  # enable_jnt_comp, enable_ref_frame_mvs
        screen = SELECT if r.f(1) else r.f(1)
        if screen > 0:
            integer_mv = SELECT if r.f(1) else r.f(1)
        if order_hint:
            order_hint_bits = r.f(3) + 1
    return SequenceInfo(
        reduced,
        decoder_model,
        equal_interval,
        removal_bits,
        presentation_bits,
        tuple(op_idc),
        frame_id_bits,
        delta_bits,
        screen,
        integer_mv,
        order_hint_bits,
    )


@dataclass(frozen=True)
class FrameHeader:
    show_existing_frame: bool
    frame_to_show: int  # show_existing_frame: the slot shown
    frame_type: int
    show_frame: bool
    order_hint: int
    refresh_frame_flags: int
    ref_slots: tuple[int, ...]  # () for intra frames


def parse_frame_header(payload: bytes, seq: SequenceInfo, temporal_id: int = 0, spatial_id: int = 0) -> FrameHeader:
    """The uncompressed header up to ref_frame_idx (spec 5.9.2)."""
    if seq.reduced_still_picture:
        return FrameHeader(False, -1, KEY_FRAME, True, 0, 0xFF, ())
    r = BitReader(payload)
    if r.f(1):  # show_existing_frame
        return FrameHeader(True, r.f(3), -1, True, -1, 0, ())
    frame_type, show = r.f(2), bool(r.f(1))
    intra = frame_type in (KEY_FRAME, INTRA_ONLY_FRAME)
    if show and seq.decoder_model_info and not seq.equal_picture_interval:
        r.f(seq.frame_presentation_time_bits)  # temporal_point_info
    if not show:
        r.f(1)  # showable_frame
    error_resilient = frame_type == SWITCH_FRAME or (frame_type == KEY_FRAME and show) or bool(r.f(1))
    r.f(1)  # disable_cdf_update
    screen = r.f(1) if seq.force_screen_content_tools == SELECT else seq.force_screen_content_tools
    if screen and seq.force_integer_mv == SELECT:
        r.f(1)  # force_integer_mv
    if seq.frame_id_bits:
        r.f(seq.frame_id_bits)  # current_frame_id
    if frame_type != SWITCH_FRAME:
        r.f(1)  # frame_size_override_flag
    order_hint = r.f(seq.order_hint_bits)
    if not (intra or error_resilient):
        r.f(3)  # primary_ref_frame
    if seq.decoder_model_info and r.f(1):  # buffer_removal_time_present_flag
        for idc in seq.op_idc:
            in_layer = (idc >> temporal_id) & 1 and (idc >> (spatial_id + 8)) & 1
            if idc >= 0 and (idc == 0 or in_layer):
                r.f(seq.buffer_removal_time_bits)
    if frame_type == SWITCH_FRAME or (frame_type == KEY_FRAME and show):
        refresh = 0xFF
    else:
        refresh = r.f(8)
    if (not intra or refresh != 0xFF) and error_resilient and seq.order_hint_bits:
        for _ in range(REF_SLOTS):
            r.f(seq.order_hint_bits)  # ref_order_hint[i]
    slots: tuple[int, ...] = ()
    if not intra:
        if seq.order_hint_bits and r.f(1):  # frame_refs_short_signaling
            raise IvfError("frame_refs_short_signaling is not supported")
        refs = []
        for _ in range(REFS_PER_FRAME):
            refs.append(r.f(3))
            if seq.frame_id_bits:
                r.f(seq.delta_frame_id_bits)  # delta_frame_id_minus_1
        slots = tuple(refs)
    return FrameHeader(False, -1, frame_type, show, order_hint, refresh, slots)


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


def _obus(unit: bytes) -> Iterator[tuple[int, int, bytes]]:
    """(type, extension byte or 0, payload) of each OBU of a temporal unit."""
    pos = 0
    while pos < len(unit):
        header = unit[pos]
        obu_type = (header >> 3) & 0xF
        has_ext, has_size = header & 0x4, header & 0x2
        extension = unit[pos + 1] if has_ext and pos + 1 < len(unit) else 0
        pos += 2 if has_ext else 1
        if has_size:
            size, pos = _leb128(unit, pos)
        else:
            size = len(unit) - pos
        yield obu_type, extension, unit[pos : pos + size]
        pos += size


class FrameHeaderReader:
    """Reads each frame header, temporal unit by temporal unit. The first bits (show/type)
    are always read; the rest (order hint, refreshed and referenced slots) once a
    sequence header has been read whole, and then every coded frame gets its display
    index and its references' display indices, tracked through the eight slots."""

    def __init__(self) -> None:
        self.reduced_still_picture = False
        self.sequence: SequenceInfo | None = None
        self.units = 0
        self.slot_display = [-1] * REF_SLOTS  # the display index of the frame in each slot
        self.slot_order_hint = [-1] * REF_SLOTS
        self.slot_key = [False] * REF_SLOTS  # the frame in the slot is a key frame
        self.last_shown: tuple[int, int] | None = None  # (display index, order hint)

    def _sequence_header(self, payload: bytes) -> None:
        # seq_profile(3) still_picture(1) reduced_still_picture_header(1)
        self.reduced_still_picture = bool(payload[0] & 0x08) if payload else False
        try:
            self.sequence = parse_sequence_header(payload)
        except IvfError:  # too short to be one: only the first bits are known
            self.sequence = None

    def _display(self, header: FrameHeader, pts: int) -> int:
        if header.show_frame:
            return pts
        seq = self.sequence
        # order hints restart at a key frame: a hidden one (a forward key frame) cannot be
        # placed by its distance to the last shown frame
        if self.last_shown is None or seq is None or not seq.order_hint_bits or header.frame_type == KEY_FRAME:
            return -1
        shown, hint = self.last_shown
        return shown + (header.order_hint - hint) % (1 << seq.order_hint_bits)

    def _full(self, tu: int, pts: int, header: FrameHeader) -> CodedFrame | None:
        """Track the slots through one frame header; the coded frame, or None for a
        show-existing one."""
        if header.show_existing_frame:
            slot = header.frame_to_show
            self.last_shown = (pts, self.slot_order_hint[slot])
            if self.slot_key[slot]:  # showing a key frame again refreshes every slot with it
                self._refresh(0xFF, self.slot_display[slot], self.slot_order_hint[slot], True)
            return None
        display = self._display(header, pts)
        refs = tuple(self.slot_display[s] for s in header.ref_slots) if header.ref_slots else (-1,) * REFS_PER_FRAME
        self._refresh(header.refresh_frame_flags, display, header.order_hint, header.frame_type == KEY_FRAME)
        if header.show_frame:
            self.last_shown = (pts, header.order_hint)
        return CodedFrame(
            tu,
            pts,
            header.frame_type,
            header.show_frame,
            header.order_hint,
            header.refresh_frame_flags,
            header.ref_slots,
            display,
            refs,
        )

    def _refresh(self, flags: int, display: int, order_hint: int, key: bool) -> None:
        for slot in range(REF_SLOTS):
            if flags >> slot & 1:
                self.slot_display[slot] = display
                self.slot_order_hint[slot] = order_hint
                self.slot_key[slot] = key

    def coded_frames(self, pts: int, unit: bytes) -> list[CodedFrame]:
        tu = self.units
        self.units += 1
        frames = []
        for obu_type, extension, payload in _obus(unit):
            if obu_type == OBU_SEQUENCE_HEADER:
                self._sequence_header(payload)
            elif obu_type in (OBU_FRAME_HEADER, OBU_FRAME):
                if self.sequence is not None:
                    try:
                        header = parse_frame_header(payload, self.sequence, extension >> 5, (extension >> 3) & 3)
                    except IvfError as e:
                        raise IvfError(f"temporal unit {tu}: frame header: {e}") from None
                    frame = self._full(tu, pts, header)
                    if frame is not None:
                        frames.append(frame)
                    continue
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
