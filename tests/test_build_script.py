"""third_party/libaom/build.sh's deb-src entries: derived from the machine's own apt sources
(its mirror or proxy, its suites and components), never from an address kept in the
repository. Runs the script's --print-deb-src on fixture apt trees; builds nothing and
touches no real /etc/apt."""

import subprocess
import textwrap

import pytest

from av1tools.extract.aom import BUILD_SCRIPT

KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


def apt_tree(root, files):
    for name, text in files.items():
        path = root / "etc" / "apt" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return root


def deb_src(root):
    done = subprocess.run(["bash", str(BUILD_SCRIPT), "--print-deb-src", str(root)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def stanzas(text):
    return [block.splitlines() for block in text.strip().split("\n\n")] if text.strip() else []


def test_one_line_sources_through_a_proxy(tmp_path):
    root = apt_tree(
        tmp_path,
        {
            "sources.list": f"""
            # packages come through a local proxy
            deb [arch=amd64 signed-by={KEYRING}] http://apt-proxy.internal:3142/debian bookworm main contrib  # proxy
            deb http://apt-proxy.internal:3142/debian-security bookworm-security main
            # deb http://commented.example/debian bookworm main
            deb-src http://already.example/debian bullseye main
            deb https://download.docker.com/linux/debian bookworm stable
            deb http://apt-proxy.internal:3142/debian trixie main
            deb cdrom:[Debian GNU/Linux 12.0.0 _Bookworm_ - Official amd64 DVD]/ bookworm main
            deb [ trusted=yes check-valid-until=no arch+=i386 ] http://snap.internal/d/20250520/ bookworm-updates main
            """,
            "sources.list.d/old.list.disabled": "deb http://ignored.example/debian bookworm main\n",
        },
    )
    assert stanzas(deb_src(root)) == [
        [
            "Types: deb-src",
            "URIs: http://apt-proxy.internal:3142/debian",
            "Suites: bookworm",
            "Components: main contrib",
            f"Signed-By: {KEYRING}",
        ],
        [
            "Types: deb-src",
            "URIs: http://apt-proxy.internal:3142/debian-security",
            "Suites: bookworm-security",
            "Components: main",
        ],
        [
            "Types: deb-src",
            "URIs: http://snap.internal/d/20250520/",
            "Suites: bookworm-updates",
            "Components: main",
            "Trusted: yes",
            "Check-Valid-Until: no",
        ],
    ]


def test_deb822_sources_of_a_mirror(tmp_path):
    # the shape of Debian's own debian.sources (comments inside stanzas), a disabled stanza,
    # an inline key, lower-case field names and a third-party archive
    root = apt_tree(
        tmp_path,
        {
            "sources.list.d/mirror.sources": f"""
            Types: deb
            # http://snapshot.debian.org/archive/debian/20250520T000000Z
            URIs: http://mirror.internal/debian
            Suites: bookworm bookworm-updates trixie
            Components: main non-free-firmware
            Architectures: amd64
            Signed-By: {KEYRING}

            Types: deb
            URIs: http://disabled.internal/debian
            Suites: bookworm
            Components: main
            Enabled: no

            types: deb
            uris: http://mirror.internal/debian-security
            suites: bookworm-security
            components: main
            signed-by:
             -----BEGIN PGP PUBLIC KEY BLOCK-----
             .
             mQINBGPL0BUBEADmW5NlOPZZ0RGxbpZ7b3Ew
             -----END PGP PUBLIC KEY BLOCK-----
            """,
            "sources.list.d/nodesource.sources": """
            Types: deb
            URIs: https://deb.nodesource.com/node_20.x
            Suites: nodistro
            Components: main
            """,
        },
    )
    assert stanzas(deb_src(root)) == [
        [
            "Types: deb-src",
            "URIs: http://mirror.internal/debian",
            "Suites: bookworm bookworm-updates",
            "Components: main non-free-firmware",
            f"Signed-By: {KEYRING}",
        ],
        [
            "Types: deb-src",
            "uris: http://mirror.internal/debian-security",
            "suites: bookworm-security",
            "components: main",
            "signed-by:",
            " -----BEGIN PGP PUBLIC KEY BLOCK-----",
            " .",
            " mQINBGPL0BUBEADmW5NlOPZZ0RGxbpZ7b3Ew",
            " -----END PGP PUBLIC KEY BLOCK-----",
        ],
    ]


def test_nothing_to_derive_from_gives_nothing(tmp_path):
    assert deb_src(tmp_path) == ""
    root = apt_tree(tmp_path, {"sources.list": "deb http://archive.example/ubuntu jammy main\n"})
    assert deb_src(root) == ""


@pytest.mark.parametrize("host", ["deb.debian.org", "security.debian.org", "URIs: http"])
def test_the_script_keeps_no_package_host(host):
    assert host not in BUILD_SCRIPT.read_text()


def test_this_machines_own_sources_are_read_by_default():
    # whatever this machine's apt holds: the mode reads it, never writes it, and exits 0
    done = subprocess.run(["bash", str(BUILD_SCRIPT), "--print-deb-src"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert all(block[0] == "Types: deb-src" for block in stanzas(done.stdout))
