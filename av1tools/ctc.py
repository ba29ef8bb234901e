"""The AOM common test conditions (CTC) as data (the ground floor: sequences, evaluation and
the catalogue all read it): rate points, frame counts, sequence classes,
and the libaom anchor's aomenc options, as the AVM repository's CTC framework defines them
(tools/convexhull_framework/src, CTC version 9.0: config.yaml, Config.py, AV2CTCVideo.py,
VideoEncoder.py). docs/metrics.md cites each value.

The current CTC points are AVM (AV2) qindex values, passed to avmenc as ``--qp``. libaom's
aomenc has no qindex option: ``--cq-level``/``--min-q``/``--max-q`` take 0..63 and libaom maps
them through av1_quantizer_to_qindex (4*q, with 249 and 255 at the top), so a base qindex that
is not in :data:`AOMENC_QINDICES` (e.g. 85, 110, 135, 185, 210, 235) cannot be requested from
aomenc 3.6.0 at all; :func:`cq_level_for_qindex` says which cq-level comes nearest.
"""

from __future__ import annotations

from dataclasses import dataclass

CTC_VERSION = "9.0"
CONFIGS = ("AI", "RA", "LD", "AS", "STILL")

# config.yaml encoding.qps (CTC 2.0 to 9.0): AVM qindex, avmenc --qp.
QINDEX_POINTS: dict[str, tuple[int, ...]] = {
    "AI": (85, 110, 135, 160, 185, 210),
    "RA": (110, 135, 160, 185, 210, 235),
    "LD": (110, 135, 160, 185, 210, 235),
    "AS": (110, 135, 160, 185, 210, 235),
    "STILL": (60, 85, 110, 135, 160, 185),
}
# Config.py's legacy QPs (CTC before 2.0), given to the encoder as --cq-level: the points of
# the CTC that still speak aomenc's 0..63 scale.
LEGACY_CQ_LEVELS: dict[str, tuple[int, ...]] = {
    "AI": (15, 23, 31, 39, 47, 55),
    "RA": (23, 31, 39, 47, 55, 63),
    "LD": (23, 31, 39, 47, 55, 63),
    "AS": (23, 31, 39, 47, 55, 63),
    "STILL": (15, 23, 31, 39, 47, 55),
}
# config.yaml frame_counts (the verification-test configuration, the default); the same for
# every class. Without the verification configuration CTC 7-9 code 15 AI frames.
FRAME_COUNTS: dict[str, int] = {"AI": 30, "RA": 130, "LD": 130, "AS": 130, "STILL": 1}
AI_FRAMES_NON_VERIFICATION = 15
GOP_SIZE = 65  # key frame distance in RA/AS (config.yaml encoding.gop_size)
SUB_GOP_SIZE = 16  # golden-frame interval, a 4-level pyramid (encoding.sub_gop_size)

# libaom's quantizer_to_qindex (av1/encoder/av1_quantize.c, 3.6.0): every base qindex aomenc
# can be asked for, indexed by cq-level.
AOMENC_QINDICES: tuple[int, ...] = tuple(4 * q for q in range(62)) + (249, 255)


class ConditionsError(ValueError):
    """A value outside the CTC's definitions."""


@dataclass(frozen=True)
class SequenceClass:
    name: str
    content: str
    sizes: tuple[tuple[int, int], ...]  # width x height of its clips, either orientation
    configs: tuple[str, ...]  # the test configurations that use it (AV2CTCVideo.CTC_TEST_SET)


_NATURAL = ("AI", "RA")
# AV2CTCVideo.py, Y4M_CLIPs and CTC_TEST_SET at CTC 9.0.
CLASSES: dict[str, SequenceClass] = {
    c.name: c
    for c in (
        SequenceClass("A1", "natural, 4K", ((3840, 2160),), (*_NATURAL, "AS")),
        SequenceClass("A2", "natural, 1080p", ((1920, 1080), (1080, 1080)), (*_NATURAL, "LD")),
        SequenceClass("A3", "natural, 720p", ((1280, 720),), (*_NATURAL, "LD")),
        SequenceClass("A4", "natural, 360p", ((640, 360),), (*_NATURAL, "LD")),
        SequenceClass("A5", "natural, 270p", ((480, 270),), (*_NATURAL, "LD")),
        SequenceClass(
            "B1", "synthetic and gaming (not camera-captured)", ((1920, 1080), (2048, 858)), (*_NATURAL, "LD")
        ),
        SequenceClass("B2", "screen content", ((1920, 1080),), (*_NATURAL, "LD")),
        SequenceClass(
            "E", "extra: noisy, shaky, artistic and mixed content", ((1280, 720), (1920, 1080), (3840, 2160)), _NATURAL
        ),
        SequenceClass("F1", "still images", (), ("STILL",)),
        SequenceClass("F2", "still images", (), ("STILL",)),
        SequenceClass("G1", "HDR10, 4K", ((3840, 2160), (4096, 2160)), _NATURAL),
        SequenceClass("G2", "HDR10, 2K and 1080p", ((1920, 1080), (2048, 858), (2048, 1080)), _NATURAL),
    )
}
# The classes whose membership follows from the frame size alone (natural SDR content).
_BY_SIZE = {
    (3840, 2160): "A1",
    (1920, 1080): "A2",
    (1080, 1080): "A2",
    (1280, 720): "A3",
    (640, 360): "A4",
    (480, 270): "A5",
}


def ctc_class(width: int, height: int, screen_content: bool = False) -> str | None:
    """The CTC class a clip of this size would join: B2 for screen content, A1-A5 for natural
    content at the CTC's sizes (portrait counts as its landscape twin), else None. Classes that
    depend on more than the size (B1 gaming, E, F still images, G HDR) are never guessed."""
    if width <= 0 or height <= 0:
        raise ConditionsError(f"frame size must be positive, not {width}x{height}")
    if screen_content:
        return "B2"
    return _BY_SIZE.get((max(width, height), min(width, height)))


def cq_level_for_qindex(qindex: int, exact: bool = True) -> int:
    """The aomenc --cq-level whose base qindex is ``qindex``; with ``exact=False`` the one
    nearest to it (a tie goes to the finer quantizer)."""
    if not 0 <= qindex <= 255:
        raise ConditionsError(f"qindex must be within 0..255, not {qindex}")
    if qindex in AOMENC_QINDICES:
        return AOMENC_QINDICES.index(qindex)
    if exact:
        raise ConditionsError(
            f"qindex {qindex} is not reachable with aomenc (--cq-level maps to {{0, 4, ..., 244, 249, 255}})"
        )
    return min(range(len(AOMENC_QINDICES)), key=lambda q: (abs(AOMENC_QINDICES[q] - qindex), q))


def frame_count(config: str) -> int:
    """Frames coded per clip in ``config``."""
    if config not in FRAME_COUNTS:
        raise ConditionsError(f"config must be one of {CONFIGS}, not {config!r}")
    return FRAME_COUNTS[config]


# CWG-D088 (VideoEncoder.py, CTC 6.0 on): these classes are coded at 10 bits whatever the input.
TEN_BIT_CLASSES = ("A2", "A4", "B1")


def libaom_anchor_args(
    config: str, cq_level: int, cpu_used: int = 0, input_bit_depth: int = 8, sequence_class: str | None = None
) -> list[str]:
    """aomenc options of the CTC's constrained libaom (AV1) anchor, as AVM's VideoEncoder.py
    EncodeWithAOM_AV1_Constrained builds them (verification-test configuration, no open GOP,
    no key-frame filtering; --limit, --fps, -w/-h and the files are left to the caller)."""
    bit_depth = 10 if sequence_class in TEN_BIT_CLASSES else input_bit_depth
    if config not in ("AI", "RA", "LD", "AS", "STILL"):
        raise ConditionsError(f"config must be one of {CONFIGS}, not {config!r}")
    if not 0 <= cq_level <= 63:
        raise ConditionsError(f"cq-level must be within 0..63, not {cq_level}")
    args = [
        "--codec=av1",
        "--psnr",
        "--obu",
        "--frame-parallel=0",
        f"--cpu-used={cpu_used}",
        "--passes=1",
        "--end-usage=q",
        "--use-fixed-qp-offsets=1",
        "--deltaq-mode=0",
        f"--cq-level={cq_level}",
        "--enable-tpl-model=0",
        f"--input-bit-depth={input_bit_depth}",
        f"--bit-depth={bit_depth}",
        "--tile-rows=0",
        "--tile-columns=0",
        "--threads=1",
        "--row-mt=0",
        "--enable-fwd-kf=0",
        "--enable-keyframe-filtering=0",
    ]
    pyramid = SUB_GOP_SIZE.bit_length() - 1  # log2(16) = 4 levels
    gf = [f"--min-gf-interval={SUB_GOP_SIZE}", f"--max-gf-interval={SUB_GOP_SIZE}", f"--gf-min-pyr-height={pyramid}"]
    if config in ("AI", "STILL"):
        args += ["--kf-min-dist=0", "--kf-max-dist=0"]
    elif config in ("RA", "AS"):
        args += [*gf, f"--gf-max-pyr-height={pyramid}", f"--kf-min-dist={GOP_SIZE}", f"--kf-max-dist={GOP_SIZE}"]
        args += [f"--lag-in-frames={SUB_GOP_SIZE + 3}", "--auto-alt-ref=1"]
    else:  # LD
        args += ["--kf-min-dist=9999", "--kf-max-dist=9999", "--lag-in-frames=0", *gf]
        args += [f"--gf-max-pyr-height={pyramid}"]
    return args
