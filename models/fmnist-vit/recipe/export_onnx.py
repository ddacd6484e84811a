"""Export anchors whole to ONNX (opset 17) and check each file with the ONNX checker.

Input ``input`` [batch, 1, 28, 28] (normalised: ``(pixel/255 - MEAN) / STD``), output ``logits``
[batch, 10]; the batch axis is dynamic. ``--stage anchors`` exports the standalone anchors
(``anchors/<id>.pt``), ``--stage finetuned`` the anchors after SN-Net joint training
(``finetune/family.pt``). Files go to ``onnx/<stage>/<id>.onnx`` with a ``family.json`` that lists
them with their shapes, MACs and accuracy.
"""
from __future__ import annotations

import argparse
import io
import json
import warnings
from pathlib import Path

import onnx
import torch

from common import LABELS, MEAN, STD, Plan, default_out, get_plan, set_threads, write_json
from vit import VisionTransformer, count_params, route_macs

OPSET = 17


def export_anchor(model: VisionTransformer, path: Path) -> dict:
    """Export one anchor, run the full ONNX checker on it and verify its input/output interface."""
    model.eval()
    dummy = torch.zeros(2, 1, 28, 28)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.onnx.export(
            model, dummy, buf, opset_version=OPSET, input_names=["input"], output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, do_constant_folding=True,
        )
    proto = onnx.load_from_string(buf.getvalue())
    onnx.checker.check_model(proto, full_check=True)
    inputs = [(i.name, [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]) for i in proto.graph.input]
    outputs = [(o.name, [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim]) for o in proto.graph.output]
    if inputs != [("input", ["batch", 1, 28, 28])] or outputs != [("logits", ["batch", 10])]:
        raise RuntimeError(f"{path}: unexpected interface {inputs} -> {outputs}")
    path.write_bytes(buf.getvalue())
    ops = sorted({n.op_type for n in proto.graph.node})
    return {"file": path.name, "bytes": path.stat().st_size, "opset": OPSET, "ops": ops,
            "warnings": [str(w.message) for w in caught]}


def load_anchors(plan: Plan, out: Path, stage: str) -> dict[str, VisionTransformer]:
    models = {}
    if stage == "anchors":
        for ap in plan.anchors:
            m = VisionTransformer(ap.cfg)
            m.load_state_dict(torch.load(out / "anchors" / f"{ap.id}.pt"))
            models[ap.id] = m
    else:
        state = torch.load(out / "finetune" / "family.pt")
        for ap in plan.anchors:
            m = VisionTransformer(ap.cfg)
            prefix = f"anchors.{ap.id}."
            m.load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})
            models[ap.id] = m
    return models


def export_stage(plan: Plan, out: Path, stage: str, accuracy: dict[str, float] | None = None) -> dict:
    """Export every anchor of ``stage`` and write ``onnx/<stage>/family.json``."""
    models = load_anchors(plan, out, stage)
    folder = out / "onnx" / stage
    entries = []
    for ap in plan.anchors:
        info = export_anchor(models[ap.id], folder / f"{ap.id}.onnx")
        meta_path = out / "anchors" / f"{ap.id}.json"
        acc = (accuracy or {}).get(ap.id)
        if acc is None and stage == "anchors" and meta_path.exists():
            acc = json.loads(meta_path.read_text())["test_acc"]
        entries.append({
            "id": ap.id, **info, "config": ap.cfg.to_dict(), "dim": ap.cfg.dim, "depth": ap.cfg.depth,
            "tokens": ap.cfg.tokens, "params": count_params(models[ap.id]),
            "macs": route_macs([{"anchor": ap.id, "blocks": [0, ap.cfg.depth - 1]}], {ap.id: ap.cfg}, {}),
            "testAccuracy": acc,
        })
    family = {
        "stage": stage, "plan": plan.name, "anchors": entries,  # smallest first
        "input": {"name": "input", "shape": ["batch", 1, 28, 28]}, "output": {"name": "logits", "shape": ["batch", 10], "labels": LABELS},
        "preprocess": {"layout": "NCHW", "scale": 1 / 255, "mean": [MEAN], "std": [STD]},
    }
    write_json(folder / "family.json", family)
    return family


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--stage", choices=["anchors", "finetuned"], default="anchors")
    args = ap.parse_args()
    set_threads()
    plan = get_plan(args.smoke)
    out = args.out or default_out(plan)
    family = export_stage(plan, out, args.stage)
    for a in family["anchors"]:
        print(f"{a['id']}: {a['file']} {a['bytes']} bytes, checker ok, ops {','.join(a['ops'])}, warnings {len(a['warnings'])}")


if __name__ == "__main__":
    main()
