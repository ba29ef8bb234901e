"""The one rendering layer: result objects in, files a person opens and JSON a program reads out.

Each report is one Markdown template (``templates/<name>.md.j2``), so every sentence and
number is written once; report.html is that Markdown converted and wrapped in a page with
its plots embedded. The JSON is written first and atomically (a resumed run reads it back),
then the plots, then the Markdown and HTML.
"""

from __future__ import annotations

import base64
import json
import math
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from av1tools.paths import write_text_atomic

TEMPLATES = Path(__file__).with_name("templates")


def pct(x: float | None, digits: int = 1) -> str:
    """A fraction as a percentage: 0.123 -> '12.3%'."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{100 * x:.{digits}f}%"


def signed(x: float | None, digits: int = 2, unit: str = "%") -> str:
    """A signed quantity already in its unit: 1.234 -> '+1.23%'."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:+.{digits}f}{unit}"


def bd(row: dict, metric: str = "psnr_y", method: str = "cubic") -> float | None:
    """A report row's BD-rate for one quality metric and method (None where not computed)."""
    return (row.get("bd_rate") or {}).get(metric, {}).get(method)


def _environment():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(pct=pct, signed=signed, bd=bd)
    return env


def render_markdown(name: str, data: dict[str, Any], plots: list[Path]) -> str:
    return _environment().get_template(f"{name}.md.j2").render(r=data, plots=[p.name for p in plots])


def markdown_to_html(markdown_text: str, title: str, plots: list[Path]) -> str:
    import markdown

    body = markdown.markdown(markdown_text, extensions=["tables"])
    for p in plots:  # self-contained page: the plots travel inside it
        uri = "data:image/png;base64," + base64.b64encode(p.read_bytes()).decode()
        body = body.replace(f'src="{p.name}"', f'src="{uri}"')
    return _environment().get_template("page.html.j2").render(title=title, body=body)


def write_report(
    name: str,
    data: dict[str, Any],
    out: Path,
    title: str,
    plot: Callable[[dict, Path], list[Path]] | None = None,
    stem: str = "report",
) -> dict[str, Path]:
    """<stem>.json, the plots, <stem>.md and <stem>.html in ``out``; returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": write_text_atomic(out / f"{stem}.json", json.dumps(data, indent=2, default=_plain))}
    with warnings.catch_warnings():  # a figure with little to show must not talk past --quiet
        warnings.simplefilter("ignore")
        plots = plot(data, out) if plot else []
    text = render_markdown(name, data, plots)
    paths["md"] = write_text_atomic(out / f"{stem}.md", text)
    paths["html"] = write_text_atomic(out / f"{stem}.html", markdown_to_html(text, title, plots))
    return paths | {p.stem: p for p in plots}


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
