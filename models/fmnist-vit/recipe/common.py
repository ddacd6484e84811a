"""Shared pieces of the recipe: the plans (anchor sizes, schedules), data, augmentation, evaluation."""
from __future__ import annotations

import gzip
import json
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vit import ViTConfig, cosine_lr

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = Path(os.environ.get("FMNIST_DIR", "/usr/share/datasets/fashion-mnist"))
# Fashion-MNIST pixel statistics of the 60k training images, after scaling to [0, 1].
MEAN = 0.2860
STD = 0.3530
LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def locate(step: int, lengths: list[int]) -> tuple[int, int]:
    """Which of consecutive cycles of ``lengths`` steps holds ``step``, and the step's offset in it
    (a step past the end belongs to the last cycle)."""
    start = 0
    for i, length in enumerate(lengths):
        if step < start + length or i == len(lengths) - 1:
            return i, step - start
        start += length
    raise ValueError("no cycles")


@dataclass(frozen=True)
class AnchorPlan:
    id: str
    cfg: ViTConfig
    epochs: int
    lr: float
    # further cosine cycles after the first, each with a short warmup: a warm restart that continues
    # training from where the previous cycle ended. (epochs, peak lr, augment)
    restarts: tuple[tuple[int, float, bool], ...] = ()

    @property
    def total_epochs(self) -> int:
        return self.epochs + sum(r[0] for r in self.restarts)

    def _cycles(self, warmup_epochs: float) -> tuple[tuple[int, float, float, bool], ...]:
        return ((self.epochs, self.lr, warmup_epochs, True),) + tuple((e, lr, 0.25, aug) for e, lr, aug in self.restarts)

    def lr_at(self, step: int, steps_per_epoch: int, warmup_epochs: float) -> float:
        """Learning rate at optimiser step ``step`` (cosine cycles, each decaying to 1% of its peak)."""
        cycles = self._cycles(warmup_epochs)
        i, local = locate(step, [c[0] * steps_per_epoch for c in cycles])
        epochs, peak, wu, _ = cycles[i]
        return cosine_lr(local, epochs * steps_per_epoch, max(1, int(wu * steps_per_epoch)), peak, peak * 0.01)

    def augment_at(self, epoch: int) -> bool:
        """Whether epoch ``epoch`` (0-based) trains on augmented images."""
        cycles = self._cycles(1.0)
        return cycles[locate(epoch, [c[0] for c in cycles])[0]][3]


@dataclass(frozen=True)
class Plan:
    """Everything that differs between the full recipe and its smoke test."""

    name: str
    anchors: tuple[AnchorPlan, ...]
    batch: int = 128
    warmup_epochs: float = 1.0
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    crop_pad: int = 2
    train_limit: int | None = None  # use only the first N training images
    test_limit: int | None = None
    steps_limit: int | None = None  # cap on optimiser steps per epoch
    # SN-Net joint fine-tuning
    ft_epochs: float = 10.0
    ft_lr: float = 2e-4
    ft_warmup_steps: int = 100
    ft_init_images: int = 2048
    ft_sampling: str = "flops-groups"
    ft_group_ratio: float = 1.15
    ft_augment: bool = False  # the anchors finished on un-augmented images; fine-tuning continues so
    # further fine-tuning cycles after the first, each a warm restart (optimizer state kept, warmup of
    # ft_warmup_steps, cosine to 1% of its peak): (epochs, peak lr, sampling)
    ft_restarts: tuple[tuple[float, float, str], ...] = ()
    train_order: tuple[str, ...] = field(default=())

    def ft_cycles(self, epochs: float | None = None, sampling: str | None = None) -> tuple[tuple[float, float, str], ...]:
        """The fine-tuning cycles ``(epochs, peak lr, sampling)``; the overrides apply to the first."""
        first = (self.ft_epochs if epochs is None else epochs, self.ft_lr, sampling or self.ft_sampling)
        return (first,) + self.ft_restarts


def _full() -> Plan:
    depth, patch = 6, 4
    return Plan(
        name="full",
        anchors=(
            AnchorPlan("tiny", ViTConfig(dim=32, depth=depth, heads=2, patch=patch), epochs=6, lr=2e-3),
            AnchorPlan("small", ViTConfig(dim=64, depth=depth, heads=2, patch=patch), epochs=9, lr=1.5e-3),
            AnchorPlan("base", ViTConfig(dim=128, depth=depth, heads=4, patch=patch), epochs=12, lr=1e-3,
                       restarts=((8, 5e-4, True), (4, 2.5e-4, False))),
        ),
        # the first cycle's MACs groups gave the members of the 4-stitch groups about half the steps
        # of the others, and those stitches lay furthest below the line: a second cycle samples every
        # configuration uniformly, as SN-Net v1 does
        ft_restarts=((8.0, 1e-4, "uniform"),),
        train_order=("base", "small", "tiny"),
    )


def _smoke() -> Plan:
    depth, patch = 3, 7
    return Plan(
        name="smoke",
        anchors=(
            AnchorPlan("tiny", ViTConfig(dim=8, depth=depth, heads=1, patch=patch), epochs=1, lr=2e-3),
            AnchorPlan("small", ViTConfig(dim=16, depth=depth, heads=2, patch=patch), epochs=1, lr=2e-3),
            AnchorPlan("base", ViTConfig(dim=24, depth=depth, heads=2, patch=patch), epochs=1, lr=2e-3, restarts=((1, 1e-3, False),)),
        ),
        batch=64,
        train_limit=512,
        test_limit=256,
        steps_limit=4,
        ft_epochs=1.0,
        ft_restarts=((1.0, 1e-4, "uniform"),),
        ft_warmup_steps=2,
        ft_init_images=128,
    )


PLANS = {"full": _full, "smoke": _smoke}


def get_plan(smoke: bool) -> Plan:
    return PLANS["smoke" if smoke else "full"]()


def default_out(plan: Plan) -> Path:
    return HERE / "out" / plan.name


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_split(split: str, data_dir: Path = DEFAULT_DATA, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Images as normalised float [N,1,28,28] and labels as int64 [N]."""
    prefix = "train" if split == "train" else "t10k"
    x = read_idx(data_dir / f"{prefix}-images-idx3-ubyte.gz")
    y = read_idx(data_dir / f"{prefix}-labels-idx1-ubyte.gz")
    if limit is not None:
        x, y = x[:limit], y[:limit]
    xt = (torch.from_numpy(x.astype(np.float32)) / 255.0 - MEAN) / STD
    return xt.unsqueeze(1).contiguous(), torch.from_numpy(y.astype(np.int64))


def augment(x: torch.Tensor, pad: int, gen: torch.Generator) -> torch.Tensor:
    """Random crop with background padding and random horizontal flip, per image."""
    b, c, h, w = x.shape
    xp = F.pad(x, (pad, pad, pad, pad), value=-MEAN / STD)
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=gen)
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=gen)
    flip = torch.rand(b, generator=gen) < 0.5
    rows = dy[:, None] + torch.arange(h)[None, :]
    cols = dx[:, None] + torch.arange(w)[None, :]
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    out = torch.gather(xp, 2, rows[:, None, :, None].expand(b, c, h, w + 2 * pad))
    return torch.gather(out, 3, cols[:, None, None, :].expand(b, c, h, w))


def below_line_pp(macs: float, acc: float, macs_a: float, acc_a: float, macs_b: float, acc_b: float) -> float:
    """Percentage points by which (macs, acc) lies under the straight line from anchor a to anchor b
    (accuracy vs MACs); positive = worse than the line. MACs outside the anchors' range use the nearer
    anchor's accuracy (the line is not extrapolated)."""
    t = min(1.0, max(0.0, (macs - macs_a) / (macs_b - macs_a)))
    return 100 * (acc_a + t * (acc_b - acc_a) - acc)


@torch.no_grad()
def evaluate(fn, x: torch.Tensor, y: torch.Tensor, batch: int = 256) -> float:
    """Top-1 accuracy in [0, 1] of ``fn`` (images -> logits) on (x, y)."""
    correct = 0
    for i in range(0, x.shape[0], batch):
        correct += (fn(x[i : i + batch]).argmax(1) == y[i : i + batch]).sum().item()
    return correct / x.shape[0]


class Logger:
    """Appends timestamped lines to a log file and echoes them to stdout."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path

    def __call__(self, msg: str) -> None:
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {msg}"
        print(line, flush=True)
        with open(self.path, "a") as f:
            f.write(line + "\n")


def write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    tmp.replace(path)


def atomic_save(obj, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


def set_threads() -> None:
    torch.set_num_threads(int(os.environ.get("RECIPE_THREADS", "2")))
