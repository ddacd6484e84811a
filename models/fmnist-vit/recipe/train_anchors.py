"""Train the anchors of the family, one after another, resumably.

Each anchor is trained from scratch on the 60k Fashion-MNIST training images (random crop with
padding + horizontal flip, label smoothing, AdamW with linear warmup and cosine decay) and
evaluated on the 10k test images after every epoch. A checkpoint is written after every epoch;
running the script again continues where it stopped (a finished anchor is skipped).

Outputs under ``--out`` (default ``out/<plan>``):
  anchors/<id>.pt      final state dict          anchors/<id>.json   config, accuracy, time
  anchors/<id>.ckpt    resume state (per epoch)  train_anchors.log   per-epoch log
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from common import (
    AnchorPlan, Logger, Plan, atomic_save, augment, default_out, evaluate, get_plan, load_split,
    seed_everything, set_threads, write_json,
)
from vit import VisionTransformer, count_params, route_macs

SEED = 0


def anchor_seed(plan: Plan, anchor_id: str) -> int:
    return SEED + 1000 * [a.id for a in plan.anchors].index(anchor_id)


def train_anchor(plan: Plan, ap: AnchorPlan, data, out: Path, log: Logger) -> dict:
    final_pt, meta_path, ckpt_path = out / "anchors" / f"{ap.id}.pt", out / "anchors" / f"{ap.id}.json", out / "anchors" / f"{ap.id}.ckpt"
    if final_pt.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta["epochs"] == ap.total_epochs:
            log(f"[{ap.id}] already trained, skipping")
            return meta
    (xtr, ytr), (xte, yte) = data
    seed = anchor_seed(plan, ap.id)
    seed_everything(seed)
    model = VisionTransformer(ap.cfg)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "pos_embed" not in n and "cls_token" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "pos_embed" not in n and "cls_token" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": plan.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=ap.lr)
    n = xtr.shape[0]
    steps_per_epoch = n // plan.batch
    if plan.steps_limit is not None:
        steps_per_epoch = min(steps_per_epoch, plan.steps_limit)
    history: list[dict] = []
    start_epoch = 0
    if ckpt_path.exists():
        ck = torch.load(ckpt_path)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        history = ck["history"]
        start_epoch = ck["epoch"]
        log(f"[{ap.id}] resuming after epoch {start_epoch} of {ap.total_epochs}")
    else:
        log(f"[{ap.id}] start: {ap.cfg.to_dict()} params={count_params(model)} epochs={ap.total_epochs} lr={ap.lr} restarts={list(ap.restarts)} steps/epoch={steps_per_epoch}")
    for epoch in range(start_epoch, ap.total_epochs):
        t0 = time.time()
        gen = torch.Generator().manual_seed(seed * 7919 + epoch)
        perm = torch.randperm(n, generator=gen)
        model.train()
        aug = ap.augment_at(epoch)
        loss_sum = 0.0
        for i in range(steps_per_epoch):
            step = epoch * steps_per_epoch + i
            for g in opt.param_groups:
                g["lr"] = ap.lr_at(step, steps_per_epoch, plan.warmup_epochs)
            idx = perm[i * plan.batch : (i + 1) * plan.batch]
            xb = augment(xtr[idx], plan.crop_pad, gen) if aug else xtr[idx]
            loss = F.cross_entropy(model(xb), ytr[idx], label_smoothing=plan.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.item()
        train_s = time.time() - t0
        model.eval()
        acc = evaluate(model, xte, yte)
        rec = {"epoch": epoch + 1, "augment": aug, "loss": loss_sum / steps_per_epoch, "test_acc": acc, "train_s": round(train_s, 1),
               "eval_s": round(time.time() - t0 - train_s, 1), "step_ms": round(1000 * train_s / steps_per_epoch, 1)}
        history.append(rec)
        atomic_save({"model": model.state_dict(), "opt": opt.state_dict(), "history": history, "epoch": epoch + 1}, ckpt_path)
        log(f"[{ap.id}] epoch {epoch + 1}/{ap.total_epochs} loss {rec['loss']:.4f} test_acc {100 * acc:.2f}% train {train_s:.0f}s ({rec['step_ms']} ms/step) eval {rec['eval_s']}s")
    meta = {
        "id": ap.id, "config": ap.cfg.to_dict(), "params": count_params(model),
        "macs": route_macs([{"anchor": ap.id, "blocks": [0, ap.cfg.depth - 1]}], {ap.id: ap.cfg}, {}),
        "epochs": ap.total_epochs, "lr": ap.lr, "restarts": [{"epochs": e, "lr": lr, "augment": a} for e, lr, a in ap.restarts], "batch": plan.batch, "seed": seed,
        "test_acc": history[-1]["test_acc"], "train_seconds": round(sum(h["train_s"] + h["eval_s"] for h in history), 1),
        "history": history,
    }
    atomic_save(model.state_dict(), final_pt)
    write_json(meta_path, meta)
    log(f"[{ap.id}] done: test_acc {100 * meta['test_acc']:.2f}% in {meta['train_seconds']:.0f}s")
    return meta


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="tiny widths, a few hundred images, a few steps")
    ap.add_argument("--out", type=Path, help="output folder (default out/<plan>)")
    ap.add_argument("--only", nargs="*", help="train only these anchor ids")
    args = ap.parse_args()
    set_threads()
    plan = get_plan(args.smoke)
    out = args.out or default_out(plan)
    log = Logger(out / "train_anchors.log")
    data = (load_split("train", limit=plan.train_limit), load_split("test", limit=plan.test_limit))
    order = plan.train_order or tuple(a.id for a in plan.anchors)
    by_id = {a.id: a for a in plan.anchors}
    summary = {}
    for aid in order:
        if args.only and aid not in args.only:
            continue
        summary[aid] = train_anchor(plan, by_id[aid], data, out, log)
    log("summary: " + ", ".join(f"{k} {100 * v['test_acc']:.2f}% ({v['train_seconds']:.0f}s)" for k, v in summary.items()))


if __name__ == "__main__":
    main()
