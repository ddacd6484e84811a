"""Print the recipe's results (``finetune/results.json``) as a Markdown table.

Columns: id, route, MACs, accuracy standalone / after least-squares init / after fine-tuning (PyTorch,
full test set), and the distance below the straight line between the stitch's two anchors.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from common import default_out, get_plan


def route_text(route: list[dict]) -> str:
    parts = []
    for s in route:
        parts.append(f"{s['anchor']}[{s['blocks'][0]}..{s['blocks'][1]}]" if "anchor" in s else f"→({s['stitchLayer']})→")
    return " ".join(parts)


def table(results: dict) -> str:
    lines = [
        "| id | route | MMACs | standalone / LS-init acc. % | fine-tuned acc. % | below line, LS-init (pp) | below line, fine-tuned (pp) |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in results["configs"]:
        a, b = r["accuracy"], r["belowLine"]
        first = a.get("standalone", a.get("lsInit"))
        fmt = lambda v: "–" if v is None else f"{v:+.2f}"
        lines.append(f"| {r['id']} | {route_text(r['route'])} | {r['macs'] / 1e6:.2f} | {100 * first:.2f} | {100 * a['fineTuned']:.2f} | {fmt(b['lsInit'])} | {fmt(b['fineTuned'])} |")
    s = results["summary"]
    lines.append("")
    lines.append(f"{s['stitches']} stitches. Fine-tuned: max below line {s['belowLineFineTuned']['max']:.2f} pp, median {s['belowLineFineTuned']['median']:.2f} pp "
                 f"(LS-init max {s['belowLineLsInit']['max']:.2f} pp). Anchor drop inside the family (pp): "
                 + ", ".join(f"{k} {v:+.2f}" for k, v in s["anchorDropPoints"].items()) + ".")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    out = args.out or default_out(get_plan(args.smoke))
    print(table(json.loads((out / "finetune" / "results.json").read_text())))


if __name__ == "__main__":
    main()
