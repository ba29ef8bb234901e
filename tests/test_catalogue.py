"""The sequence catalogue against a loopback HTTP server: one download, checksums recorded
and enforced, and no half-written or unverified file ever left looking complete."""

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from av1tools.extract import catalogue
from av1tools.extract.catalogue import CATALOGUE, DERF, CatalogueError, Entry, catalogue_path, list_catalogue
from av1tools.extract.y4m import Y4MReader

W = H = 16
FRAME = bytes(range(256)) + bytes(W * H * 3 // 2 - 256)  # one 4:2:0 frame: Y 16x16, U, V 8x8
TINY = b"YUV4MPEG2 W16 H16 F30:1 Ip C420jpeg\n" + 2 * (b"FRAME\n" + FRAME)
TINY_SHA = hashlib.sha256(TINY).hexdigest()


class Handler(BaseHTTPRequestHandler):
    """Serves ``routes[path] = (mode, body)``; counts every request it gets."""

    routes: ClassVar[dict] = {}  # replaced per test by the fixture
    requests: ClassVar[list] = []

    def do_GET(self):
        self.requests.append(self.path)
        mode, body = self.routes.get(self.path, ("404", b""))
        if mode == "silent":  # close the connection without any response
            return
        if mode == "404":
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        # "truncate": promise the whole body, send half of it, then hang up.
        self.wfile.write(body[: len(body) // 2] if mode == "truncate" else body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server(monkeypatch, tmp_path):
    """A loopback server and a fresh cache; no proxy may intercept the loopback requests."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("AV1TOOLS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(catalogue.URL_ENV, raising=False)
    monkeypatch.setattr(Handler, "routes", {"/tiny.y4m": ("ok", TINY)})
    monkeypatch.setattr(Handler, "requests", [])
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.requests = Handler.requests  # the paths asked for, in order
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def add_entry(monkeypatch, sha256=None, resolution=(W, H), name="tiny"):
    entry = Entry(name, f"{DERF}/tiny.y4m", resolution, 2, "test", sha256=sha256)
    monkeypatch.setitem(CATALOGUE, name, entry)
    return entry


def cache_files(tmp_path):
    folder = tmp_path / "cache" / "catalogue"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def assert_one_line(err, *parts):
    msg = str(err.value)
    assert "\n" not in msg and "Traceback" not in msg
    for part in parts:
        assert part in msg, (part, msg)


def test_first_download_records_checksum_and_second_call_is_offline(server, monkeypatch, tmp_path):
    add_entry(monkeypatch)
    calls = []
    path = catalogue_path("tiny", base_url=server.url, progress=lambda d, t: calls.append((d, t)))
    assert path == tmp_path / "cache" / "catalogue" / "tiny.y4m"
    assert path.read_bytes() == TINY
    record = json.loads(path.with_name("tiny.y4m.json").read_text())
    assert record["sha256"] == TINY_SHA and record["size"] == len(TINY)
    assert calls[-1] == (len(TINY), len(TINY))
    with Y4MReader(path) as r:
        assert (r.width, r.height, len(r)) == (W, H, 2)
    assert cache_files(tmp_path) == ["tiny.y4m", "tiny.y4m.json"]
    assert len(server.requests) == 1
    # Second use: no request at all, even with the host pointed at nothing.
    assert catalogue_path("tiny", base_url="http://127.0.0.1:9") == path
    assert catalogue_path("tiny") == path
    assert len(server.requests) == 1


def test_env_var_overrides_host(server, monkeypatch):
    add_entry(monkeypatch)
    monkeypatch.setenv(catalogue.URL_ENV, server.url + "/")
    assert catalogue_path("tiny").read_bytes() == TINY
    assert server.requests == ["/tiny.y4m"]


def test_pinned_checksum_accepted(server, monkeypatch):
    add_entry(monkeypatch, sha256=TINY_SHA.upper())
    assert catalogue_path("tiny", base_url=server.url).read_bytes() == TINY


def test_pinned_wrong_checksum_refused_and_nothing_kept(server, monkeypatch, tmp_path):
    add_entry(monkeypatch, sha256="0" * 64)
    with pytest.raises(CatalogueError) as err:
        catalogue_path("tiny", base_url=server.url)
    assert_one_line(err, "tiny", "0" * 64, TINY_SHA, "pinned")
    assert cache_files(tmp_path) == []


@pytest.mark.parametrize("mode, expect", [("404", "HTTP 404"), ("truncate", "incomplete"), ("silent", "failed")])
def test_network_failures_are_one_line_and_leave_nothing(server, monkeypatch, tmp_path, mode, expect):
    add_entry(monkeypatch)
    Handler.routes["/tiny.y4m"] = (mode, TINY)
    url = f"{server.url}/tiny.y4m"
    with pytest.raises(CatalogueError) as err:
        catalogue_path("tiny", base_url=server.url)
    assert_one_line(err, "tiny", url, expect)
    assert cache_files(tmp_path) == []
    # Once the server recovers, the same call succeeds.
    Handler.routes["/tiny.y4m"] = ("ok", TINY)
    assert catalogue_path("tiny", base_url=server.url).read_bytes() == TINY


def test_unreachable_host(server, monkeypatch, tmp_path):
    add_entry(monkeypatch)
    with pytest.raises(CatalogueError) as err:
        catalogue_path("tiny", base_url="http://127.0.0.1:9")  # discard port: nothing listens
    assert_one_line(err, "tiny", "http://127.0.0.1:9/tiny.y4m")
    assert cache_files(tmp_path) == []


def test_tampered_cache_detected_removed_and_refetched(server, monkeypatch, tmp_path):
    add_entry(monkeypatch)
    path = catalogue_path("tiny", base_url=server.url)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CatalogueError) as err:
        catalogue_path("tiny", base_url=server.url)
    assert_one_line(err, "tiny", TINY_SHA, hashlib.sha256(data).hexdigest(), "recorded")
    assert cache_files(tmp_path) == ["tiny.y4m.json"]  # the record survives to check the refetch
    assert len(server.requests) == 1
    assert catalogue_path("tiny", base_url=server.url).read_bytes() == TINY
    assert len(server.requests) == 2


def test_changed_upstream_refused_against_recorded_checksum(server, monkeypatch, tmp_path):
    add_entry(monkeypatch)
    catalogue_path("tiny", base_url=server.url).unlink()
    other = TINY[:-1] + b"\x01"
    Handler.routes["/tiny.y4m"] = ("ok", other)
    with pytest.raises(CatalogueError) as err:
        catalogue_path("tiny", base_url=server.url)
    assert_one_line(err, "tiny", TINY_SHA, hashlib.sha256(other).hexdigest(), "recorded")
    assert cache_files(tmp_path) == ["tiny.y4m.json"]
    record = json.loads((tmp_path / "cache" / "catalogue" / "tiny.y4m.json").read_text())
    assert record["sha256"] == TINY_SHA


@pytest.mark.parametrize(
    "body, resolution, expect",
    [
        (b"<html>moved</html>\n", (W, H), "not a y4m"),
        (TINY, (32, 16), "16x16, catalogued as 32x16"),
    ],
)
def test_wrong_content_not_recorded(server, monkeypatch, tmp_path, body, resolution, expect):
    add_entry(monkeypatch, resolution=resolution)
    Handler.routes["/tiny.y4m"] = ("ok", body)
    with pytest.raises(CatalogueError) as err:
        catalogue_path("tiny", base_url=server.url)
    assert_one_line(err, "tiny", expect)
    assert cache_files(tmp_path) == []


def test_unreadable_record_is_a_one_line_error(server, monkeypatch, tmp_path):
    add_entry(monkeypatch)
    path = catalogue_path("tiny", base_url=server.url)
    path.with_name("tiny.y4m.json").write_text("{truncated")
    with pytest.raises(CatalogueError) as err:
        catalogue_path("tiny", base_url=server.url)
    assert_one_line(err, "tiny", "unreadable checksum record")
    assert len(server.requests) == 1


def test_unknown_name(server):
    with pytest.raises(CatalogueError, match="unknown catalogue sequence 'nope'"):
        catalogue_path("nope")
    assert server.requests == []


def test_list_catalogue_shows_cached(server, monkeypatch):
    add_entry(monkeypatch)
    rows = {r.name: r for r in list_catalogue()}
    assert rows["foreman_cif"].resolution == "352x288" and not rows["foreman_cif"].cached
    assert not rows["tiny"].cached
    catalogue_path("tiny", base_url=server.url)
    assert {r.name: r for r in list_catalogue()}["tiny"].cached


def test_catalogue_entries_are_well_formed():
    from av1tools.extract.sequences import SAMPLES

    assert 10 <= len(CATALOGUE) <= 20
    for name, e in CATALOGUE.items():
        assert e.name == name and name not in SAMPLES and "." not in name
        assert e.url.startswith(DERF + "/") and e.filename.endswith(".y4m") and e.format == "y4m"
        assert e.sha256 is None or (len(e.sha256) == 64 and int(e.sha256, 16) >= 0)
        assert e.frames > 0 and min(e.resolution) > 0 and e.licence


def test_a_ctc_class_names_its_catalogue_sequences():
    from av1tools.extract.catalogue import CATALOGUE, class_members
    from av1tools.extract.sequences import SequenceError, _expand

    assert CATALOGUE["park_joy_720p50"].ctc_class == "A3" and CATALOGUE["foreman_cif"].ctc_class is None
    assert class_members("class:A2") == ["crowd_run_1080p50", "park_joy_1080p50"]
    assert [item[0] for item in _expand("class:A3")] == ["park_joy_720p50"]
    with pytest.raises(SequenceError, match="class:Z9: unknown CTC class"):
        _expand("class:Z9")
    with pytest.raises(SequenceError, match="holds no sequence of class A5"):
        _expand("class:A5")
