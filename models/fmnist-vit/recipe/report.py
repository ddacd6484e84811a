"""The recipe's results as a Markdown table and a check of the family's targets.

Reads ``finetune/results.json`` (PyTorch accuracies on the test set: standalone anchors, stitches
with least-squares init, every configuration after fine-tuning) and, when given, the stitch packages
built from the same weights (``stitchnet build``, accuracies measured with ONNX Runtime), and prints
one row per configuration: MACs, accuracy before and after fine-tuning from both frameworks, and how
far each stitch lies below the straight line between its two anchors (accuracy vs MACs).

    /usr/bin/python3 report.py --package .. --lsinit-package out/full/package-lsinit
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from common import below_line_pp, default_out, get_plan

PARITY_PP = 0.1  # ORT and PyTorch must agree within this many percentage points
LINE_MAX_PP, LINE_MEDIAN_PP = 2.0, 1.0
ANCHOR_DROP_PP = 0.5


def route_text(route: list[dict]) -> str:
    return " → ".join(f"{s['anchor']}[{s['blocks'][0]}-{s['blocks'][1]}]" if "anchor" in s else s["stitchLayer"] for s in route)


def route_key(route: list[dict]) -> list:
    """A route without the stitching layers' names (the builder and the recipe spell them differently)."""
    return [(s["anchor"], list(s["blocks"])) if "anchor" in s else "stitch" for s in route]


def manifest_acc(pkg: Path | None, results: dict) -> dict[int, float] | None:
    """Accuracy by configuration id from a package, after checking its routes are the recipe's."""
    if pkg is None:
        return None
    m = json.loads((pkg / "stitchnet.json").read_text())
    by_id = {s["id"]: s for s in m["stitches"]}
    for c in results["configs"]:
        s = by_id.get(c["id"])
        if s is None or s.get("macs") != c["macs"] or route_key(s["route"]) != route_key(c["route"]):
            raise SystemExit(f"{pkg}/stitchnet.json: stitch {c['id']} is not the recipe's configuration {c['id']} (route or MACs differ), "
                             "so its accuracies cannot be set beside this results.json; rebuild the package from these outputs with ./package.sh")
    return {i: s["accuracy"] for i, s in by_id.items()}


def below_line(results: dict, acc: dict[int, float]) -> dict[int, float]:
    """Points (pp) each stitch lies under the line between its anchors; positive = below."""
    anchors = {c["route"][0]["anchor"]: c for c in results["configs"] if c["kind"] == "anchor"}
    out = {}
    for c in results["configs"]:
        if c["kind"] != "stitch":
            continue
        a, b = anchors[c["pair"][0]], anchors[c["pair"][1]]
        out[c["id"]] = below_line_pp(c["macs"], acc[c["id"]], a["macs"], acc[a["id"]], b["macs"], acc[b["id"]])
    return out


def report(results: dict, ort_init: dict[int, float] | None, ort_ft: dict[int, float] | None) -> str:
    cfgs = results["configs"]
    pt_init = {c["id"]: c["accuracy"].get("standalone", c["accuracy"].get("lsInit")) for c in cfgs}
    pt_ft = {c["id"]: c["accuracy"]["fineTuned"] for c in cfgs}
    ft = ort_ft or pt_ft
    line_init, line_ft = below_line(results, ort_init or pt_init), below_line(results, ft)
    pct = lambda v: "–" if v is None else f"{100 * v:.2f}"
    pp = lambda v: "–" if v is None else f"{v:+.2f}"
    lines = [
        "| id | route | MMACs | before: PyTorch | before: ORT | fine-tuned: PyTorch | fine-tuned: ORT | below line before (pp) | below line fine-tuned (pp) |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in cfgs:
        i = c["id"]
        lines.append(f"| {i} | {route_text(c['route'])} | {c['macs'] / 1e6:.2f} | {pct(pt_init[i])} | {pct(ort_init.get(i) if ort_init else None)} | "
                     f"{pct(pt_ft[i])} | {pct(ort_ft.get(i) if ort_ft else None)} | {pp(line_init.get(i))} | {pp(line_ft.get(i))} |")
    lines.append("")
    lines.append("*before* = the standalone anchors, and stitches with least-squares-initialised stitching layers; "
                 "*fine-tuned* = after SN-Net joint training. Accuracy is top-1 on the Fashion-MNIST test images "
                 f"({results['evaluation']['samples']}). Below-line figures use the {'ORT' if ort_ft else 'PyTorch'} accuracies.")
    lines.append("")
    # --- targets
    anchors = [c for c in cfgs if c["kind"] == "anchor"]
    stitches = [c for c in cfgs if c["kind"] == "stitch"]
    largest, smallest = anchors[-1], anchors[0]
    ft_below = sorted(line_ft.values())
    drops = {c["route"][0]["anchor"]: 100 * (pt_init[c["id"]] - ft[c["id"]]) for c in anchors}
    checks = [
        (f"largest anchor ({largest['route'][0]['anchor']}) standalone ≥ 90 %", f"{100 * pt_init[largest['id']]:.2f} %", pt_init[largest["id"]] >= 0.90),
        ("smallest anchor ≥ 2.5 pp below the largest", f"{100 * (pt_init[largest['id']] - pt_init[smallest['id']]):.2f} pp",
         pt_init[largest["id"]] - pt_init[smallest["id"]] >= 0.025),
        (f"each anchor inside the family loses ≤ {ANCHOR_DROP_PP} pp", ", ".join(f"{k} {v:+.2f}" for k, v in drops.items()),
         all(v <= ANCHOR_DROP_PP for v in drops.values())),
        ("≥ 30 stitches", str(len(stitches)), len(stitches) >= 30),
        (f"every stitch within {LINE_MAX_PP} pp of the line (fine-tuned)", f"max {ft_below[-1]:+.2f} pp", ft_below[-1] <= LINE_MAX_PP),
        (f"median within {LINE_MEDIAN_PP} pp (fine-tuned)", f"{statistics.median(ft_below):+.2f} pp", statistics.median(ft_below) <= LINE_MEDIAN_PP),
    ]
    for name, ort, pt in (("before", ort_init, pt_init), ("fine-tuned", ort_ft, pt_ft)):
        if ort is not None:
            gap = max(abs(ort[i] - pt[i]) for i in pt) * 100
            checks.append((f"ORT = PyTorch within {PARITY_PP} pp ({name})", f"largest difference {gap:.2f} pp", gap <= PARITY_PP + 1e-9))
    lines += ["| target | value | met |", "|---|---|---|"]
    lines += [f"| {n} | {v} | {'yes' if ok else '**no**'} |" for n, v, ok in checks]
    lines.append("")
    lines.append(f"Least-squares before fine-tuning: max {max(line_init.values()):+.2f} pp below the line, median {statistics.median(line_init.values()):+.2f} pp.")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--package", type=Path, help="the package built from the fine-tuned outputs")
    ap.add_argument("--lsinit-package", type=Path, help="the package built from the standalone anchors + least-squares layers")
    args = ap.parse_args()
    out = args.out or default_out(get_plan(args.smoke))
    results = json.loads((out / "finetune" / "results.json").read_text())
    print(report(results, manifest_acc(args.lsinit_package, results), manifest_acc(args.package, results)))


if __name__ == "__main__":
    main()
