"""SN-Net joint fine-tuning of the trained anchors, then evaluation and export.

1. Enumerate the stitches as SN-Net v1 does for a plain ViT: nearest anchor pairs (small -> large),
   paired windows of kernel 2 / stride 1 over the block indices, positions (j, k) with k <= j
   included, positions first seen in one window share one stitching layer. Ids: anchors first,
   then each pair's positions in order.
2. Initialise each stitching layer (token-wise Linear with bias) by least squares in float64,
   ``M = pinv([A, 1]) @ B`` with A = the front anchor's output of block j and B = the end anchor's
   input to block k, on ``ft_init_images`` training images; shared layers average W and b over
   their positions.
3. Evaluate the anchors alone and every stitch with the least-squares layers (10k test images).
4. Train all weights jointly: each step samples one configuration (anchors included), loss
   0.5 * CE + 0.5 * KL to a frozen copy of the largest anchor; AdamW, warmup + cosine, then the
   plan's warm restarts (each a cosine cycle of its own, with its own sampling).
5. Evaluate every configuration again, write ``finetune/results.json``, export the fine-tuned anchors
   to ONNX and the stitching layers to ``finetune/stitch_weights.json``.

Resumable: the least-squares init, the first evaluation and every epoch are checkpointed.
"""
from __future__ import annotations

import argparse
import copy
import json
import random
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from common import (
    Logger, Plan, atomic_save, augment, below_line_pp, default_out, evaluate, get_plan, load_split, locate,
    seed_everything, set_threads, write_json,
)
from export_onnx import export_stage
from vit import StitchedFamily, VisionTransformer, cosine_lr, count_params, route_macs, stitch_linear

SEED = 0
STITCH_FORMAT = "stitchnet-stitch-weights/1"


# ---------------------------------------------------------------- enumeration (SN-Net v1)
def paired_positions(depth: int, kernel: int = 2, stride: int = 1) -> list[tuple[tuple[int, int], int]]:
    """``[((j, k), layer_index), ...]`` in SN-Net v1's order (``paired_stitching``)."""
    out: list[tuple[tuple[int, int], int]] = []
    seen: set[tuple[int, int]] = set()
    layer = -1
    for start in range(0, depth, stride):
        window = list(range(depth))[start : start + kernel]
        new = False
        for j in window:
            for k in window:
                if (j, k) not in seen:
                    seen.add((j, k))
                    out.append(((j, k), layer + 1))
                    new = True
        if new:
            layer += 1
    return out


@dataclass(frozen=True)
class Config:
    id: int
    kind: str  # "anchor" | "stitch"
    route: tuple  # tuple of step dicts, stored as JSON-able dicts
    pair: tuple[str, str] | None = None
    position: tuple[int, int] | None = None
    layer: str | None = None

    def route_list(self) -> list[dict]:
        return [dict(s) for s in self.route]


def layer_id(front: str, end: str, index: int) -> str:
    return f"{front}-{end}-{index}"


def enumerate_configs(plan: Plan) -> tuple[list[Config], dict[str, dict]]:
    """All configurations (anchors first, then each nearest pair) and the stitching layers."""
    configs: list[Config] = []
    for ap in plan.anchors:
        configs.append(Config(len(configs), "anchor", ({"anchor": ap.id, "blocks": [0, ap.cfg.depth - 1]},)))
    layers: dict[str, dict] = {}
    for fa, ea in zip(plan.anchors, plan.anchors[1:]):
        if fa.cfg.depth != ea.cfg.depth:
            raise ValueError("this recipe stitches anchors of equal depth only")
        for (j, k), li in paired_positions(fa.cfg.depth):
            lid = layer_id(fa.id, ea.id, li)
            layers.setdefault(lid, {"from": fa.id, "to": ea.id, "index": li, "dimIn": fa.cfg.dim, "dimOut": ea.cfg.dim, "positions": []})
            layers[lid]["positions"].append([j, k])
            route = ({"anchor": fa.id, "blocks": [0, j]}, {"stitchLayer": lid}, {"anchor": ea.id, "blocks": [k, ea.cfg.depth - 1]})
            configs.append(Config(len(configs), "stitch", route, (fa.id, ea.id), (j, k), lid))
    return configs, layers


def config_params(cfg: Config, family: StitchedFamily) -> int:
    """Parameters a configuration uses (embed, blocks, stitching layer, final norm + head)."""
    steps = cfg.route_list()
    anchors = [s for s in steps if "anchor" in s]
    first = family.anchors[anchors[0]["anchor"]]
    last = family.anchors[anchors[-1]["anchor"]]
    n = count_params(first.patch_embed) + first.cls_token.numel() + first.pos_embed.numel()
    for s in steps:
        if "anchor" in s:
            a, b = s["blocks"]
            n += sum(count_params(family.anchors[s["anchor"]].blocks[i]) for i in range(a, b + 1))
        else:
            n += count_params(family.stitch_layers[s["stitchLayer"]])
    return n + count_params(last.norm) + count_params(last.head)


# ---------------------------------------------------------------- least-squares init
@torch.no_grad()
def block_features(model: VisionTransformer, x: torch.Tensor, batch: int = 256) -> list[torch.Tensor]:
    """``feats[i + 1]`` = output of block i, ``feats[0]`` = embedding output; each [rows, D]."""
    feats: list[list[torch.Tensor]] = [[] for _ in range(model.cfg.depth + 1)]
    for s in range(0, x.shape[0], batch):
        h = model.forward_embed(x[s : s + batch])
        feats[0].append(h.reshape(-1, h.shape[-1]))
        for i, blk in enumerate(model.blocks):
            h = blk(h)
            feats[i + 1].append(h.reshape(-1, h.shape[-1]))
    return [torch.cat(f) for f in feats]


def least_squares(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Solve ``min ||[a, 1] M - b||`` in float64 with ``pinv``; returns W [in,out], bias [out], rel. residual."""
    a64, b64 = a.double(), b.double()
    a1 = torch.cat([a64, torch.ones(a64.shape[0], 1, dtype=torch.float64)], dim=1)
    m = torch.linalg.pinv(a1) @ b64
    resid = (a1 @ m - b64).norm() / b64.norm()
    return m[:-1], m[-1], float(resid)


@torch.no_grad()
def init_stitch_layers(plan: Plan, family: StitchedFamily, layers: dict[str, dict], x: torch.Tensor, log: Logger) -> dict[str, float]:
    feats = {ap.id: block_features(family.anchors[ap.id], x) for ap in plan.anchors}
    residuals: dict[str, float] = {}
    for lid, spec in layers.items():
        ws, bs, rs = [], [], []
        for j, k in spec["positions"]:
            w, b, r = least_squares(feats[spec["from"]][j + 1], feats[spec["to"]][k])
            ws.append(w)
            bs.append(b)
            rs.append(r)
            residuals[f"{spec['from']}{j}->{spec['to']}{k}"] = r
        lin = family.stitch_layers[lid]
        lin.weight.copy_(torch.stack(ws).mean(0).T.float())
        lin.bias.copy_(torch.stack(bs).mean(0).float())
        log(f"LS init {lid}: positions {spec['positions']} rel. residuals " + ", ".join(f"{r:.3f}" for r in rs))
    return residuals


# ---------------------------------------------------------------- sampling
def flops_groups(configs: list[Config], macs: dict[int, int], ratio: float) -> list[list[int]]:
    """Resource-constrained sampling groups in the manner of SN-Netv2: stitches sorted by MACs, a new
    group whenever a stitch costs more than ``ratio`` times the group's first member (a relative gap,
    because the family spans an order of magnitude in MACs); each anchor is a group of its own."""
    groups: list[list[int]] = [[c.id] for c in configs if c.kind == "anchor"]
    stitch_groups: list[list[int]] = []
    for c in sorted((c for c in configs if c.kind == "stitch"), key=lambda c: macs[c.id]):
        if stitch_groups and macs[c.id] <= ratio * macs[stitch_groups[-1][0]]:
            stitch_groups[-1].append(c.id)
        else:
            stitch_groups.append([c.id])
    return groups + stitch_groups


@dataclass(frozen=True)
class FtCycle:
    """One cosine cycle of joint training: the first, or a warm restart continuing from it."""

    index: int
    epochs: float
    lr: float
    sampling: str
    steps: int


class Sampler:
    """Draws one configuration id per training step: uniformly, or a MACs group first, then a member."""

    def __init__(self, configs: list[Config], macs: dict[int, int], mode: str, ratio: float, seed: int):
        self.rng = random.Random(seed)
        self.mode = mode
        self.ids = [c.id for c in configs]
        self.groups = flops_groups(configs, macs, ratio) if mode == "flops-groups" else [self.ids]

    def __call__(self) -> int:
        return self.rng.choice(self.rng.choice(self.groups))

    def state(self):
        return self.rng.getstate()

    def load(self, state) -> None:
        self.rng.setstate(state)


# ---------------------------------------------------------------- evaluation
def evaluate_all(family: StitchedFamily, configs: list[Config], xte, yte, log: Logger, tag: str) -> dict[int, float]:
    family.eval()
    accs = {}
    t0 = time.time()
    for c in configs:
        route = c.route_list()
        accs[c.id] = evaluate(lambda xb: family.forward_route(route, xb), xte, yte)
    log(f"[{tag}] evaluated {len(configs)} configs in {time.time() - t0:.0f}s")
    return accs


def below_line(c: Config, accs: dict[int, float], macs: dict[int, int], anchor_ids: dict[str, int]) -> float | None:
    """How far (pp) a stitch lies under the line between its two anchors (see ``below_line_pp``)."""
    if c.kind != "stitch" or c.pair is None:
        return None
    a, b = anchor_ids[c.pair[0]], anchor_ids[c.pair[1]]
    return round(below_line_pp(macs[c.id], accs[c.id], macs[a], accs[a], macs[b], accs[b]), 3)


# ---------------------------------------------------------------- export
def stitch_weights_json(family: StitchedFamily, layers: dict[str, dict]) -> dict:
    out = []
    for lid, spec in layers.items():
        lin = family.stitch_layers[lid]
        out.append({
            "id": lid, "from": spec["from"], "to": spec["to"], "index": spec["index"],
            "dimIn": spec["dimIn"], "dimOut": spec["dimOut"], "positions": spec["positions"],
            "weight": lin.weight.detach().T.float().tolist(),  # [dimIn][dimOut]: y = x W + b
            "bias": lin.bias.detach().float().tolist(),
        })
    return {"format": STITCH_FORMAT, "layers": out}


# ---------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--epochs", type=float, help="override the epochs of the plan's first fine-tuning cycle")
    ap.add_argument("--sampling", choices=["uniform", "flops-groups"], help="override the sampling of the plan's first fine-tuning cycle")
    args = ap.parse_args()
    set_threads()
    plan = get_plan(args.smoke)
    out = args.out or default_out(plan)
    ft = out / "finetune"
    log = Logger(ft / "finetune.log")
    seed_everything(SEED)

    configs, layers = enumerate_configs(plan)
    cfgs = {a.id: a.cfg for a in plan.anchors}
    dims = {lid: (s["dimIn"], s["dimOut"]) for lid, s in layers.items()}
    macs = {c.id: route_macs(c.route_list(), cfgs, dims) for c in configs}
    anchor_ids = {c.route[0]["anchor"]: c.id for c in configs if c.kind == "anchor"}
    log(f"{len(configs)} configurations ({len(anchor_ids)} anchors, {len(configs) - len(anchor_ids)} stitches), {len(layers)} stitching layers")

    anchors = {}
    for a in plan.anchors:
        m = VisionTransformer(a.cfg)
        m.load_state_dict(torch.load(out / "anchors" / f"{a.id}.pt"))
        anchors[a.id] = m
    family = StitchedFamily(anchors, {lid: stitch_linear(s["dimIn"], s["dimOut"]) for lid, s in layers.items()})
    params = {c.id: config_params(c, family) for c in configs}
    xtr, ytr = load_split("train", limit=plan.train_limit)
    xte, yte = load_split("test", limit=plan.test_limit)

    # --- least-squares init + evaluation of anchors and LS-only stitches (checkpointed)
    init_path = ft / "init.pt"
    if init_path.exists():
        init = torch.load(init_path)
        family.load_state_dict(init["family"])
        residuals, acc_init = init["residuals"], init["acc"]
        log("loaded least-squares init and its evaluation")
    else:
        t0 = time.time()
        gen = torch.Generator().manual_seed(SEED)
        idx = torch.randperm(xtr.shape[0], generator=gen)[: plan.ft_init_images]
        residuals = init_stitch_layers(plan, family, layers, xtr[idx], log)
        init_s = time.time() - t0
        log(f"least-squares init on {len(idx)} images in {init_s:.0f}s")
        acc_init = evaluate_all(family, configs, xte, yte, log, "ls-init")
        atomic_save({"family": family.state_dict(), "residuals": residuals, "acc": acc_init, "init_s": init_s}, init_path)
        write_json(ft / "stitch_weights_lsinit.json", stitch_weights_json(family, layers))

    # --- joint training
    teacher_id = plan.anchors[-1].id
    teacher = copy.deepcopy(family.anchors[teacher_id]).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    n = xtr.shape[0]
    steps_per_epoch = n // plan.batch
    if plan.steps_limit is not None:
        steps_per_epoch = min(steps_per_epoch, plan.steps_limit)
    cycles = [FtCycle(i, e, lr, smp, max(1, round(steps_per_epoch * e))) for i, (e, lr, smp) in enumerate(plan.ft_cycles(args.epochs, args.sampling))]
    starts = [sum(c.steps for c in cycles[:i]) for i in range(len(cycles))]
    total = sum(c.steps for c in cycles)

    def cycle_at(step: int) -> tuple[FtCycle, int]:
        """The cycle optimiser step ``step`` belongs to and the step's index inside it."""
        i, local = locate(step, [c.steps for c in cycles])
        return cycles[i], local

    def make_sampler(cycle: FtCycle) -> Sampler:
        return Sampler(configs, macs, cycle.sampling, plan.ft_group_ratio, SEED + cycle.index)

    stitch_params = [p for n, p in family.named_parameters() if n.startswith("stitch_layers.")]
    decay = [p for n, p in family.named_parameters() if n.startswith("anchors.") and p.ndim >= 2 and "pos_embed" not in n and "cls_token" not in n]
    ids_decay = {id(p) for p in decay} | {id(p) for p in stitch_params}
    no_decay = [p for p in family.parameters() if id(p) not in ids_decay]
    opt = torch.optim.AdamW([
        {"params": decay, "weight_decay": plan.weight_decay, "lr_scale": 1.0},
        {"params": no_decay, "weight_decay": 0.0, "lr_scale": 1.0},
        {"params": stitch_params, "weight_decay": 0.0, "lr_scale": 5.0},
    ], lr=plan.ft_lr)
    ckpt_path = ft / "train.ckpt"
    history, counts, step = [], {c.id: 0 for c in configs}, 0
    sampler = make_sampler(cycles[0])
    if ckpt_path.exists():
        ck = torch.load(ckpt_path)
        family.load_state_dict(ck["family"])
        opt.load_state_dict(ck["opt"])
        history, counts, step = ck["history"], ck["counts"], ck["step"]
        sampler = make_sampler(cycles[ck.get("sampler_cycle", 0)])
        sampler.load(ck["sampler"])
        log(f"resuming fine-tuning at step {step}/{total}")
    for c in cycles:
        if starts[c.index] >= step:
            log(f"fine-tuning cycle {c.index + 1}/{len(cycles)}: {c.steps} steps ({c.epochs} epochs), lr {c.lr} (stitching layers x5), "
                f"warmup {plan.ft_warmup_steps}, sampling {c.sampling}, {'augmented' if plan.ft_augment else 'un-augmented'} images")
    while step < total:
        epoch = step // steps_per_epoch
        t0 = time.time()
        gen = torch.Generator().manual_seed(SEED * 7919 + 100 + epoch)
        perm = torch.randperm(n, generator=gen)
        family.train()
        loss_sum, n_steps = 0.0, 0
        for i in range(step - epoch * steps_per_epoch, steps_per_epoch):
            if step >= total:
                break
            cycle, local = cycle_at(step)
            if local == 0 and step > 0:
                sampler = make_sampler(cycle)
                log(f"cycle {cycle.index + 1}: sampling {cycle.sampling}, {len(sampler.groups)} groups")
            for g in opt.param_groups:
                g["lr"] = g["lr_scale"] * cosine_lr(local, cycle.steps, plan.ft_warmup_steps, cycle.lr, cycle.lr * 0.01)
            idx = perm[i * plan.batch : (i + 1) * plan.batch]
            xb, yb = (augment(xtr[idx], plan.crop_pad, gen) if plan.ft_augment else xtr[idx]), ytr[idx]
            cid = sampler()
            counts[cid] += 1
            logits = family.forward_route(configs[cid].route_list(), xb)
            with torch.no_grad():
                t_logits = teacher(xb)
            ce = F.cross_entropy(logits, yb, label_smoothing=plan.label_smoothing)
            kd = F.kl_div(F.log_softmax(logits, -1), F.log_softmax(t_logits, -1), reduction="batchmean", log_target=True)
            loss = 0.5 * ce + 0.5 * kd
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.item()
            n_steps += 1
            step += 1
        cycle, _ = cycle_at(step - 1)
        rec = {"epoch": epoch + 1, "cycle": cycle.index + 1, "steps": n_steps, "loss": loss_sum / max(1, n_steps), "train_s": round(time.time() - t0, 1),
               "step_ms": round(1000 * (time.time() - t0) / max(1, n_steps), 1)}
        history.append(rec)
        atomic_save({"family": family.state_dict(), "opt": opt.state_dict(), "sampler": sampler.state(), "sampler_cycle": cycle.index,
                     "history": history, "counts": counts, "step": step}, ckpt_path)
        log(f"fine-tune epoch {epoch + 1}/{-(-total // steps_per_epoch)} (cycle {cycle.index + 1}) loss {rec['loss']:.4f} {rec['train_s']:.0f}s ({rec['step_ms']} ms/step)")

    # --- final evaluation, results, exports
    atomic_save(family.state_dict(), ft / "family.pt")
    acc_ft = evaluate_all(family, configs, xte, yte, log, "fine-tuned")
    acc_init = {int(k): v for k, v in acc_init.items()}
    rows = []
    for c in configs:
        rows.append({
            "id": c.id, "kind": c.kind, "route": c.route_list(),
            **({"pair": list(c.pair), "position": list(c.position), "stitchLayer": c.layer} if c.kind == "stitch" else {}),
            "macs": macs[c.id], "params": params[c.id], "samples": counts[c.id],
            "accuracy": {"standalone" if c.kind == "anchor" else "lsInit": acc_init[c.id], "fineTuned": acc_ft[c.id]},
            "belowLine": {"lsInit": below_line(c, acc_init, macs, anchor_ids), "fineTuned": below_line(c, acc_ft, macs, anchor_ids)},
        })
    stitch_rows = [r for r in rows if r["kind"] == "stitch"]
    ft_below = sorted(r["belowLine"]["fineTuned"] for r in stitch_rows)
    summary = {
        "stitches": len(stitch_rows),
        "anchorDropPoints": {c.route[0]["anchor"]: round(100 * (acc_init[c.id] - acc_ft[c.id]), 3) for c in configs if c.kind == "anchor"},
        "belowLineFineTuned": {"max": ft_below[-1] if ft_below else None, "median": statistics.median(ft_below) if ft_below else None},
        "belowLineLsInit": {"max": max(r["belowLine"]["lsInit"] for r in stitch_rows) if stitch_rows else None},
    }
    results = {
        "plan": plan.name, "evaluation": {"dataset": "fashion-mnist-test", "samples": int(xte.shape[0]), "framework": "pytorch"},
        "fineTuning": {"epochs": sum(c.epochs for c in cycles), "steps": total, "augment": plan.ft_augment,
                       "cycles": [{"epochs": c.epochs, "steps": c.steps, "lr": c.lr, "sampling": c.sampling,
                                   "samplingGroups": make_sampler(c).groups} for c in cycles],
                       "loss": "0.5*CE(label smoothing) + 0.5*KL(teacher=" + teacher_id + ")", "history": history},
        "leastSquares": {"images": plan.ft_init_images, "relativeResiduals": residuals},
        "summary": summary, "configs": rows,
    }
    write_json(ft / "results.json", results)
    write_json(ft / "stitch_weights.json", stitch_weights_json(family, layers))
    export_stage(plan, out, "finetuned", {c.route[0]["anchor"]: acc_ft[c.id] for c in configs if c.kind == "anchor"})
    log(f"summary: {json.dumps(summary)}")
    for r in rows:
        a = r["accuracy"]
        first = a.get("standalone", a.get("lsInit"))
        log(f"  id {r['id']:3d} {r['kind']:6s} {str(r.get('position', '')):8s} macs {r['macs'] / 1e6:7.2f}M  {100 * first:6.2f}% -> {100 * a['fineTuned']:6.2f}%  below line {r['belowLine']['fineTuned']}")


if __name__ == "__main__":
    main()
