"""DeiT-style Vision Transformer for 28x28 grey images, with SN-Net stitched routes.

Module names follow timm's ``VisionTransformer`` (``patch_embed.proj``, ``cls_token``,
``pos_embed``, ``blocks.{i}.norm1 / attn.qkv / attn.proj / norm2 / mlp.fc1 / mlp.fc2``,
``norm``, ``head``) so that the exported graphs look like real-world ViT exports.
Blocks are pre-norm, the classifier reads the cls token, GELU is exact (erf).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

IMAGE_SIZE = 28
IN_CHANS = 1
NUM_CLASSES = 10


@dataclass(frozen=True)
class ViTConfig:
    """Shape of one anchor."""

    dim: int
    depth: int
    heads: int
    patch: int = 7
    mlp_ratio: int = 4
    image: int = IMAGE_SIZE
    in_chans: int = IN_CHANS
    classes: int = NUM_CLASSES

    @property
    def patches(self) -> int:
        return (self.image // self.patch) ** 2

    @property
    def tokens(self) -> int:
        return self.patches + 1

    def to_dict(self) -> dict:
        return asdict(self)


class PatchEmbed(nn.Module):
    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.proj = nn.Conv2d(cfg.in_chans, cfg.dim, kernel_size=cfg.patch, stride=cfg.patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q @ k.transpose(-2, -1)) * self.scale
        attn = attn.softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(b, n, c)
        return self.proj(x)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, dim * mlp_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class VisionTransformer(nn.Module):
    """One anchor. ``forward`` = embed -> all blocks -> final norm -> cls token -> head."""

    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.cfg = cfg
        self.patch_embed = PatchEmbed(cfg)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.tokens, cfg.dim))
        self.blocks = nn.ModuleList(Block(cfg.dim, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.dim, eps=1e-6)
        self.head = nn.Linear(cfg.dim, cfg.classes)
        self._init_weights()

    def _init_weights(self) -> None:
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        w = self.patch_embed.proj.weight
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.zeros_(self.patch_embed.proj.bias)

    def forward_embed(self, x: torch.Tensor) -> torch.Tensor:
        """Image [B,1,28,28] -> tokens [B, 1+N, D] (cls first, position embedding added)."""
        x = self.patch_embed(x)
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        return torch.cat((cls, x), dim=1) + self.pos_embed

    def forward_blocks(self, x: torch.Tensor, first: int, last: int) -> torch.Tensor:
        """Run blocks ``first..last`` inclusive."""
        for i in range(first, last + 1):
            x = self.blocks[i](x)
        return x

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        """Tokens -> final norm -> cls token -> logits."""
        return self.head(self.norm(x)[:, 0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_blocks(self.forward_embed(x), 0, self.cfg.depth - 1))


def stitch_linear(d_in: int, d_out: int) -> nn.Linear:
    """A stitching layer: token-wise ``Linear(d_in, d_out)`` with bias (cls token included)."""
    return nn.Linear(d_in, d_out)


class StitchedFamily(nn.Module):
    """Anchors plus stitching layers; runs any route of the stitch-package form.

    A route is a list of steps ``{"anchor": id, "blocks": [from, to]}`` (inclusive) and
    ``{"stitchLayer": id}``. The first step's anchor supplies the embedding, the last anchor
    step's anchor supplies the final norm and head (SN-Netv2 convention: the final norm is
    applied for stitched routes too).
    """

    def __init__(self, anchors: dict[str, VisionTransformer], stitch_layers: dict[str, nn.Linear] | None = None):
        super().__init__()
        self.anchors = nn.ModuleDict(anchors)
        self.stitch_layers = nn.ModuleDict(stitch_layers or {})

    def forward_route(self, route: list[dict], x: torch.Tensor) -> torch.Tensor:
        anchor_steps = [s for s in route if "anchor" in s]
        if not anchor_steps:
            raise ValueError("a route needs at least one anchor step")
        h = self.anchors[anchor_steps[0]["anchor"]].forward_embed(x)
        for step in route:
            if "anchor" in step:
                first, last = step["blocks"]
                h = self.anchors[step["anchor"]].forward_blocks(h, first, last)
            else:
                h = self.stitch_layers[step["stitchLayer"]](h)
        return self.anchors[anchor_steps[-1]["anchor"]].forward_head(h)


def block_macs(tokens: int, dim: int, mlp_ratio: int) -> int:
    """MACs of one pre-norm block (fvcore convention: linears, QK^T, AV; 5/elem per LayerNorm)."""
    linear = tokens * dim * dim * (3 + 1 + 2 * mlp_ratio)
    attn = 2 * tokens * tokens * dim
    norms = 2 * 5 * tokens * dim
    return linear + attn + norms


def route_macs(route: list[dict], cfgs: dict[str, ViTConfig], stitch_dims: dict[str, tuple[int, int]]) -> int:
    """MACs of a route for one image (fvcore convention, as the SN-Net tables count them)."""
    anchor_steps = [s for s in route if "anchor" in s]
    first = cfgs[anchor_steps[0]["anchor"]]
    last = cfgs[anchor_steps[-1]["anchor"]]
    macs = first.patches * first.patch * first.patch * first.in_chans * first.dim
    for step in route:
        if "anchor" in step:
            c = cfgs[step["anchor"]]
            a, b = step["blocks"]
            macs += (b - a + 1) * block_macs(c.tokens, c.dim, c.mlp_ratio)
        else:
            d_in, d_out = stitch_dims[step["stitchLayer"]]
            macs += first.tokens * d_in * d_out
    macs += 5 * last.tokens * last.dim + last.dim * last.classes
    return macs


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def cosine_lr(step: int, total: int, warmup: int, base: float, final: float = 0.0) -> float:
    """Linear warmup then cosine decay to ``final``."""
    if step < warmup:
        return base * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return final + 0.5 * (base - final) * (1 + math.cos(math.pi * min(1.0, t)))
