"""av1tools encode: the model inside libaom, a standard AV1 bitstream out."""

import json

import av
import pytest

from av1tools.extract.ivf import decode_frames


@pytest.mark.parametrize("suffix", [".ivf", ".webm"])
def test_encode_writes_a_bitstream_dav1d_decodes(cli, tmp_path, aom_tools, suffix):
    out = tmp_path / f"carphone{suffix}"
    code, text, err = cli(["encode", "carphone", "-o", out, "--frames", "3", "--cpu-used", "5", "--json"])
    assert code == 0, err
    result = json.loads(text)
    assert result["frames"] == 3 and result["guided_nodes"] > 0 and result["network_seconds"] > 0
    assert result["point"] == "coverage 0.8 3" and result["bytes"] == out.stat().st_size
    with av.open(str(out)) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == 3 and (frames[0].width, frames[0].height) == (176, 144)
    if suffix == ".ivf":
        assert sum(1 for _ in decode_frames(out)) == 3


def test_encode_says_what_it_cannot_do(cli, tmp_path, trained_run):
    run, _ = trained_run
    code, _, err = cli(["encode", "carphone", "-o", tmp_path / "x.mp4"])
    assert code == 1 and "x.mp4: the output must end in .ivf, .webm, .mkv" in err
    code, _, err = cli(["encode", "carphone", "-o", tmp_path / "x.ivf", "--model", run])
    assert code == 1 and "a staged model; the encoder runs superblock models only" in err and err.count("\n") == 1
    code, _, err = cli(["encode", "carphone", "-o", tmp_path / "x.ivf", "--top-k", "2", "--coverage", "0.9"])
    assert code == 2 and "give one operating point" in err
    assert not list(tmp_path.glob("x.*"))


def test_encode_with_the_exact_guided_features(cli, tmp_path, aom_tools):
    """--guided-features exact: the two speed features that tie one block's search to
    another's off, as eval-encode's --compare-features measures them: another search, so
    another bitstream at some cq-level, still a standard one."""
    differs = []
    for cq in ("23", "47"):
        streams = []
        for features in ("stock", "exact"):
            out = tmp_path / f"{features}{cq}.ivf"
            args = ["encode", "carphone", "-o", out, "--frames", "2", "--cpu-used", "5", "--cq-level", cq]
            code, _, err = cli([*args, "--guided-features", features, "-q"])
            assert code == 0, err
            assert sum(1 for _ in decode_frames(out)) == 2
            streams.append(out.read_bytes())
        differs.append(streams[0] != streams[1])
    assert any(differs)
    code, _, err = cli(["encode", "carphone", "-o", tmp_path / "x.ivf", "--guided-features", "fast"])
    assert code == 2 and "fast" in err
