"""CLI conventions: one-line errors, exit codes, help with examples."""

import json

import pytest

from av1tools.cli.common import EXAMPLES


def test_missing_sequence_is_one_line_exit_1(cli, tmp_path):
    code, out, err = cli(["extract", "--seq", str(tmp_path / "foreman.y4m"), "--out", str(tmp_path)])
    assert code == 1
    assert err.strip().count("\n") == 0
    assert "foreman.y4m: no such file" in err and "Traceback" not in err


def test_unsupported_chroma_is_named(cli, tmp_path):
    seq = tmp_path / "c444.y4m"
    seq.write_bytes(b"YUV4MPEG2 W16 H16 F30:1 Ip C444\nFRAME\n" + bytes(16 * 16 * 3))
    code, _, err = cli(["extract", "--seq", str(seq), "--out", str(tmp_path / "o")])
    assert code == 1
    assert "unsupported chroma format C444" in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_truncated_sequence_names_frame(cli, tmp_path):
    seq = tmp_path / "t.y4m"
    seq.write_bytes(b"YUV4MPEG2 W16 H16 C420\nFRAME\n" + bytes(384) + b"FRAME\n" + bytes(100))
    code, _, err = cli(["extract", "--seq", str(seq), "--out", str(tmp_path)])
    assert code == 1 and "t.y4m: frame 1: truncated" in err


def test_usage_error_exit_2(cli, tmp_path):
    code, _, err = cli(["extract", "--seq", "carphone", "--out", str(tmp_path), "--qp", "99"])
    assert code == 2 and "--qp" in err


def test_debug_shows_traceback(cli, tmp_path):
    code, _, err = cli(["--debug", "info", str(tmp_path / "none.h5")])
    assert code == 1 and "Traceback" in err


def test_info_on_foreign_file(cli, tmp_path):
    bad = tmp_path / "x.h5"
    bad.write_text("not hdf5")
    code, _, err = cli(["info", str(bad)])
    assert code == 1 and err.count("\n") == 1 and "x.h5" in err


@pytest.mark.parametrize("command", sorted(EXAMPLES))
def test_help_has_example(command, cli):
    words = EXAMPLES[command].split()
    path = words[1:3] if words[1] == "experiment" else [command]
    code, out, _ = cli(path + ["--help"])
    assert code == 0 and "Example:" in out and EXAMPLES[command] in out


def test_samples_json(cli):
    code, out, _ = cli(["samples", "--json"])
    assert code == 0
    assert {"carphone", "bikes", "astronaut-pan"} <= {r["name"] for r in json.loads(out)}


def test_extract_then_info(cli, tmp_path, aom_tools):
    code, out, _ = cli(
        [
            "extract",
            "--seq",
            "carphone",
            "--out",
            str(tmp_path),
            "--qp",
            "40",
            "--frames",
            "2",
            "--cpu-used",
            "6",
            "--json",
        ]
    )
    assert code == 0
    [row] = json.loads(out)["shards"]
    code, out, _ = cli(["info", row["dataset"], "--json"])
    assert code == 0
    [summary] = json.loads(out)
    assert set(summary["nodes"]) == {"64x64", "32x32", "16x16", "8x8"}
    assert summary["attrs"]["cq_level"] == 40 and summary["attrs"]["frames"] == 2
