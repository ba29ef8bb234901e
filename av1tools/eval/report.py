"""eval-encode's report: report.json (for programs), report.md and report.html (for people),
with an RD-curve plot and a time-saving vs BD-rate plot."""

from __future__ import annotations

import base64
import html
import json

from av1tools.paths import atomic_output
from pathlib import Path

SECTIONS = ("Settings", "Summary", "Per QP", "Speed-up simulation", "Failed encodes")


def _pct(x, digits: int = 2) -> str:
    return "n/a" if x is None else f"{100 * x:.{digits}f}%"


def _num(x, digits: int = 2) -> str:
    return "n/a" if x is None else f"{x:+.{digits}f}%"


def summary_table(report: dict) -> list[list[str]]:
    head = ["run", "TS encoder", "TS end-to-end", "BD-rate PSNR-Y", "BD-rate SSIM-Y",
            "BD-rate PSNR-Y (pchip)", "simulated TS", "notes"]
    rows = [head]
    for r in report["rows"]:
        note = []
        if "partition_mismatches" in r:
            note.append(f"{r['partition_mismatches']} of {r['map_nodes']} forced nodes differ")
        if r["failed"]:
            note.append(f"{len(r['failed'])} failed")
        rows.append([r["label"], _pct(r.get("time_saving_encoder"), 1), _pct(r.get("time_saving_end_to_end"), 1),
                     _num(r.get("bd_rate_psnr_y_cubic")), _num(r.get("bd_rate_ssim_y_cubic")),
                     _num(r.get("bd_rate_psnr_y_pchip")), _pct(r.get("simulated_time_saving"), 1),
                     "; ".join(note)])
    return rows


def per_qp_table(report: dict) -> list[list[str]]:
    rows = [["QP", "run", "kbps", "PSNR-Y", "PSNR-U", "PSNR-V", "SSIM-Y", "encoder CPU s", "inference CPU s",
             "mode searches", "nodes in map"]]
    for r in report["runs"]:
        if not r["ok"]:
            continue
        q = r["quality"]
        rows.append([str(r["qp"]), r["label"], f"{r['kbps']:.1f}", f"{q['psnr_y']:.3f}", f"{q['psnr_u']:.3f}",
                     f"{q['psnr_v']:.3f}", f"{q['ssim_y']:.4f}", f"{r['cpu_seconds']:.2f}",
                     f"{r['inference_cpu_seconds']:.2f}", str(r["counters"].get("mode_searches", "")),
                     str(r["map_nodes"] or "")])
    return rows


def _md_table(rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])] + \
        ["| " + " | ".join(r) + " |" for r in rows[1:]]


def _html_table(rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows[1:])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _settings_lines(report: dict) -> list[str]:
    s = report["settings"]
    return [f"sequence {s['sequence']} ({s['width']}x{s['height']}, {s['bit_depth']}-bit, {s['frames']} frames), "
            f"mode {s['mode']}, cpu-used {s['cpu_used']}, sb {s['sb_size']}, cq-levels {s['qps']}, "
            f"encoder CPU time = median of {s['repeat']} run(s), {s['encoder_version']}",
            f"model: {s.get('model') or 'none'} (decisions: {s.get('decision') or '-'}); "
            f"operating points: {', '.join(s['points']) if s.get('model') else '-'}; "
            f"presets: cpu-used {', '.join(map(str, s['presets'])) or '-'}",
            f"machine: {s.get('machine', 'unknown')}"]


def _simulation_lines(report: dict) -> list[str]:
    cal = report.get("calibration")
    if not cal:
        return ["No calibration: the patched encoder's counters were not available."]
    lines = [f"Cost model calibrated on {cal['runs']} baseline and oracle encodes: libaom's own search "
             f"covers rho = {cal['rho']:.3f} of an exhaustive search's mode-search pixels; per-frame work outside "
             f"the search = {cal['fixed_per_frame']:,.0f} pixel-units; {cal['seconds_per_unit'] * 1e9:.2f} ns per unit."]
    model_rows = [r for r in report["rows"] if r["kind"] == "model" and "simulated_time_saving" in r]
    for r in model_rows:
        lines.append(f"{r['label']}: simulated time saving {_pct(r['simulated_time_saving'], 1)}, "
                     f"measured {_pct(r.get('time_saving_encoder'), 1)}.")
    if not model_rows:
        lines.append("No model runs to check the simulation against.")
    return lines


def _failed_lines(report: dict) -> list[str]:
    failed = [f"{r['label']}: {f}" for r in report["rows"] for f in r["failed"]]
    return failed or ["none"]


def write_plots(report: dict, out: Path) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for r in report["rows"]:
        if "kbps" in r:
            style = {"baseline": "k-o", "oracle": "g--s", "model": "-^", "preset": ":x"}[r["kind"]]
            axes[0].plot(r["kbps"], r["psnr_y"], style, label=r["label"])
            axes[1].plot(r["kbps"], r["ssim_y"], style, label=r["label"])
    for ax, name in zip(axes, ("PSNR-Y (dB)", "SSIM-Y")):
        ax.set_xlabel("kbps")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"RD curves: {report['settings']['sequence']}")
    fig.tight_layout()
    paths.append(out / "rd_curves.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4.5))
    ladder = [(0.0, 0.0)] + sorted((100 * r["time_saving_encoder"], r["bd_rate_psnr_y_cubic"]) for r in report["rows"]
                                   if r["kind"] == "preset" and r.get("bd_rate_psnr_y_cubic") is not None)
    ax.plot(*zip(*ladder), color="C3", lw=1, ls=":", label="libaom preset ladder")
    ax.scatter([0], [0], color="k", marker="o")
    ax.annotate("baseline", (0, 0), fontsize=8, xytext=(4, -10), textcoords="offset points")
    for r in report["rows"]:
        if r["kind"] == "baseline" or r.get("bd_rate_psnr_y_cubic") is None:
            continue
        marker = {"oracle": "s", "model": "^", "preset": "x"}[r["kind"]]
        color = {"oracle": "green", "model": "C0", "preset": "C3"}[r["kind"]]
        ax.scatter(100 * r["time_saving_encoder"], r["bd_rate_psnr_y_cubic"], marker=marker, color=color)
        ax.annotate(r["label"], (100 * r["time_saving_encoder"], r["bd_rate_psnr_y_cubic"]), fontsize=8,
                    xytext=(4, 4), textcoords="offset points")
        if r["kind"] == "model" and r.get("time_saving_end_to_end") is not None:
            ax.scatter(100 * r["time_saving_end_to_end"], r["bd_rate_psnr_y_cubic"], marker="^",
                       facecolors="none", edgecolors=color)
    ax.axhline(0, color="k", lw=0.5)
    ax.legend(fontsize=8, loc="upper left")
    ax.set_xlabel("encoder time saving vs baseline (%)  (hollow: with inference)")
    ax.set_ylabel("BD-rate PSNR-Y (%)")
    ax.grid(alpha=0.3)
    ax.set_title("time saving vs BD-rate")
    fig.tight_layout()
    paths.append(out / "ts_vs_bdrate.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)
    return paths


def _atomic_write(path: Path, text: str) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(text)


def write_report(report: dict, out: Path) -> dict[str, Path]:
    """report.json, report.md, report.html and the PNGs they show; returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plots = write_plots(report, out)
    md = ["# eval-encode report", "", "## Settings", "", *[f"- {l}" for l in _settings_lines(report)], "",
          "## Summary", "", "Time saving (TS) is mean over QPs of 1 - CPU time / baseline CPU time; end-to-end adds the "
          "model's inference CPU time. BD-rate: Bjøntegaard (cubic fit in log-rate; pchip variant too) against "
          "the baseline over all QPs; negative is better.", "", *_md_table(summary_table(report)), "",
          "## Per QP", "", *_md_table(per_qp_table(report)), "",
          "## Speed-up simulation", "", *_simulation_lines(report), "",
          "## Failed encodes", "", *[f"- {l}" for l in _failed_lines(report)], "",
          *[f"![{p.name}]({p.name})" for p in plots], ""]
    images = "".join(f'<figure><img alt="{p.name}" src="data:image/png;base64,'
                     f'{base64.b64encode(p.read_bytes()).decode()}"></figure>' for p in plots)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>eval-encode: {html.escape(report['settings']['sequence'])}</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}td:first-child,th:first-child{{text-align:left}}img{{max-width:100%}}</style></head><body>
<h1>eval-encode report</h1>
<h2>Settings</h2><ul>{''.join(f'<li>{html.escape(l)}</li>' for l in _settings_lines(report))}</ul>
<h2>Summary</h2><p>Time saving (TS): mean over QPs of 1 - CPU time / baseline CPU time; end-to-end adds inference CPU time.
BD-rate: Bjøntegaard against the baseline over all QPs (negative is better).</p>{_html_table(summary_table(report))}
<h2>Per QP</h2>{_html_table(per_qp_table(report))}
<h2>Speed-up simulation</h2><ul>{''.join(f'<li>{html.escape(l)}</li>' for l in _simulation_lines(report))}</ul>
<h2>Failed encodes</h2><ul>{''.join(f'<li>{html.escape(l)}</li>' for l in _failed_lines(report))}</ul>
{images}</body></html>"""
    paths = {"json": out / "report.json", "md": out / "report.md", "html": out / "report.html"}
    _atomic_write(paths["json"], json.dumps(report, indent=2))
    _atomic_write(paths["md"], "\n".join(md))
    _atomic_write(paths["html"], page)
    return paths
