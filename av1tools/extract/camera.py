"""Synthetic camera motion over a still picture: pans, zooms, shakes and rolls, rendered
deterministically with sub-pixel (cubic spline) sampling. A generalisation of
``sequences.pan_frames``: every frame is an affine map from output pixels to picture
pixels, recorded so that the motion is known exactly (global motion only: no parallax, no
moving objects, no motion blur)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import numpy as np

from av1tools.extract.sequences import Planes, rgb_to_yuv420

MOTIONS = ("pan", "zoom", "shake", "roll")


@dataclass(frozen=True)
class CameraPath:
    """Per frame: the view's centre (picture pixels), its scale (picture pixels per output
    pixel) and its rotation (radians, counter-clockwise as seen in the picture)."""

    motion: str
    cx: tuple[float, ...]
    cy: tuple[float, ...]
    scale: tuple[float, ...]
    angle: tuple[float, ...]
    params: dict  # what drew the path (speeds, amplitudes), for the record

    def __len__(self) -> int:
        return len(self.cx)

    def affine(self, t: int, width: int, height: int) -> np.ndarray:
        """2x3 matrix taking output pixel (x, y, 1) to picture pixel (x, y) at frame t."""
        s, a = self.scale[t], self.angle[t]
        c, n = s * math.cos(a), s * math.sin(a)
        u0, v0 = (width - 1) / 2, (height - 1) / 2
        return np.array([[c, -n, self.cx[t] - c * u0 + n * v0], [n, c, self.cy[t] - n * u0 - c * v0]], dtype=np.float64)

    def to_dict(self, width: int, height: int) -> dict:
        d = asdict(self)
        d["affine"] = [np.round(self.affine(t, width, height), 6).tolist() for t in range(len(self))]
        return d


def _corners(width: int, height: int) -> np.ndarray:
    return np.array([[0, 0, 1], [width - 1, 0, 1], [0, height - 1, 1], [width - 1, height - 1, 1]], float).T


def _relative(motion: str, rng: np.random.Generator, frames: int, base: float) -> tuple[np.ndarray, ...]:
    """(dx, dy, scale, angle) per frame around a centre still to be placed, and the params."""
    t = np.arange(frames, dtype=np.float64)
    zeros = np.zeros(frames)
    if motion == "pan":
        speed = float(rng.uniform(0.5, 6.0))  # output pixels per frame
        heading = float(rng.uniform(0, 2 * math.pi))
        dx, dy = speed * base * math.cos(heading) * t, speed * base * math.sin(heading) * t
        return dx, dy, np.full(frames, base), zeros, {"speed_px_per_frame": speed, "heading_rad": heading}
    if motion == "zoom":
        factor = float(rng.uniform(1.12, 1.35)) ** (1 if rng.random() < 0.5 else -1)  # >1: zoom in
        scale = base * factor ** (-t / max(frames - 1, 1))
        drift = float(rng.uniform(0, 1.0))
        heading = float(rng.uniform(0, 2 * math.pi))
        dx, dy = drift * base * math.cos(heading) * t, drift * base * math.sin(heading) * t
        return dx, dy, scale, zeros, {"zoom_factor": factor, "drift_px_per_frame": drift, "heading_rad": heading}
    if motion == "shake":
        amp = float(rng.uniform(2.0, 8.0))  # output pixels
        roll = math.radians(float(rng.uniform(0.1, 0.6)))
        dx, dy, angle = zeros.copy(), zeros.copy(), zeros.copy()
        waves = []
        for _ in range(3):
            fx, fy, fa = rng.uniform(0.03, 0.25, 3)  # cycles per frame
            px, py, pa = rng.uniform(0, 2 * math.pi, 3)
            dx += amp / 3 * base * np.sin(2 * math.pi * fx * t + px)
            dy += amp / 3 * base * np.sin(2 * math.pi * fy * t + py)
            angle += roll / 3 * np.sin(2 * math.pi * fa * t + pa)
            waves.append([float(fx), float(fy), float(fa), float(px), float(py), float(pa)])
        breathe = 1 + 0.01 * np.sin(2 * math.pi * float(rng.uniform(0.02, 0.1)) * t)
        return dx, dy, base * breathe, angle, {"amplitude_px": amp, "roll_rad": roll, "waves": waves}
    if motion == "roll":
        total = math.radians(float(rng.uniform(2.0, 6.0))) * (1 if rng.random() < 0.5 else -1)
        angle = total * t / max(frames - 1, 1)
        speed = float(rng.uniform(0.0, 2.0))
        heading = float(rng.uniform(0, 2 * math.pi))
        factor = float(rng.uniform(1.0, 1.15))
        scale = base * factor ** (-t / max(frames - 1, 1))
        dx, dy = speed * base * math.cos(heading) * t, speed * base * math.sin(heading) * t
        return dx, dy, scale, angle, {"roll_rad": total, "speed_px_per_frame": speed, "zoom_factor": factor}
    raise ValueError(f"motion {motion!r} not in {MOTIONS}")


def camera_path(
    motion: str, seed: int, picture: tuple[int, int], output: tuple[int, int], frames: int, base: float = 1.0
) -> CameraPath:
    """A deterministic path of ``motion`` whose every view lies inside the picture
    (``picture`` and ``output`` are (width, height)); amplitudes shrink until it fits."""
    pw, ph = picture
    ow, oh = output
    rng = np.random.default_rng(seed)
    dx, dy, scale, angle, params = _relative(motion, rng, frames, base)
    for _ in range(60):
        xs, ys = [], []
        for t in range(frames):
            path = CameraPath(motion, (dx[t],), (dy[t],), (scale[t],), (angle[t],), {})
            x, y = path.affine(0, ow, oh) @ _corners(ow, oh)
            xs.append(x)
            ys.append(y)
        xs, ys = np.concatenate(xs), np.concatenate(ys)
        room_x, room_y = (pw - 1) - (xs.max() - xs.min()), (ph - 1) - (ys.max() - ys.min())
        if room_x >= 0 and room_y >= 0:
            break
        # too big: shrink the motion around its first frame and the view's scale alike
        dx, dy = dx * 0.85, dy * 0.85
        scale = scale * 0.97
        angle = angle * 0.85
        params["shrunk"] = params.get("shrunk", 0) + 1
    else:
        raise ValueError(f"a {ow}x{oh} view does not fit a {pw}x{ph} picture")
    ox = -xs.min() + float(rng.uniform(0, room_x))
    oy = -ys.min() + float(rng.uniform(0, room_y))
    params["seed"] = seed
    return CameraPath(
        motion,
        tuple(float(v) for v in dx + ox),
        tuple(float(v) for v in dy + oy),
        tuple(float(v) for v in scale),
        tuple(float(v) for v in angle),
        params,
    )


def camera_frames(image: np.ndarray, width: int, height: int, path: CameraPath, bit_depth: int = 8) -> Iterator[Planes]:
    """The frames a camera following ``path`` over ``image`` (RGB or grey, uint8) sees, as
    4:2:0 planes; bicubic sampling (PIL's, an interpolating kernel), so sub-pixel positions
    stay sharp."""
    from PIL import Image

    rgb = image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2)
    picture = Image.fromarray(np.ascontiguousarray(rgb[..., :3], dtype=np.uint8))
    for t in range(len(path)):
        (a, b, c), (d, e, f) = path.affine(t, width, height)
        # PIL maps continuous coordinates (pixel centres at +0.5): shift into and out of them
        data = (a, b, c + 0.5 - 0.5 * (a + b), d, e, f + 0.5 - 0.5 * (d + e))
        view = picture.transform((width, height), Image.AFFINE, data, resample=Image.BICUBIC)
        yield rgb_to_yuv420(np.asarray(view, dtype=np.float64) / 255.0, bit_depth)
