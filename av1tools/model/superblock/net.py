"""The superblock model: one forward pass per 64x64 superblock gives the ten-type distribution
of every node of its tree (1 + 4 + 16 + 64 nodes), as ETH-CNN does for HEVC.

A small strided CNN maps the superblock's luma to feature grids at strides 8, 16, 32 and 64,
one cell per node of the 8x8, 16x16, 32x32 and 64x64 levels; a top-down path gives the
finer levels the coarser context; a 1x1 head per level reads ten logits per cell, shifted by
an embedding of the qindex. Types a node cannot take (its size, the frame edge) are masked.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from av1tools.model.common import normalise_blocks
from av1tools.model.superblock.config import FRAME_INFO, SuperblockConfig
from av1tools.partition import NUM_PARTITIONS


def _conv(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    # No normalisation layer: the network is shallow, its input is normalised, and without
    # batch statistics a batch split over DDP ranks trains exactly as it does in one process
    # (CPU DDP has no SyncBatchNorm) and inference needs no folding.
    conv = nn.Conv2d(cin, cout, k, stride, padding=(k - 1) // 2 if stride == 1 else 0, groups=groups)
    nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
    nn.init.zeros_(conv.bias)
    return nn.Sequential(conv, nn.ReLU(inplace=True))


def _block(c: int) -> nn.Sequential:
    """A depthwise-separable 3x3 block: cheap context within a level."""
    return nn.Sequential(_conv(c, c, 3, groups=c), _conv(c, c, 1))


def local_activity(x: torch.Tensor) -> torch.Tensor:
    """Each sample's 5x5 neighbourhood standard deviation (the busyness a partition follows)."""
    mean = F.avg_pool2d(x, 5, 1, 2, count_include_pad=False)
    square = F.avg_pool2d(x * x, 5, 1, 2, count_include_pad=False)
    return (square - mean * mean).clamp(min=0).sqrt()


class SuperblockNet(nn.Module):
    """A superblock's luma window (64x64, or with its context margin) + qindex (+ the frame's
    size) -> (N, 85, 10) logits, levels 64, 32, 16, 8 in slot order. With a margin the
    finest levels are computed over the whole window, so the superblock's cells hear their
    neighbours, and cropped to the superblock before the coarse levels."""

    def __init__(self, config: SuperblockConfig):
        super().__init__()
        self.config = config
        w = config.widths  # channels at strides 4, 8, 16, 32, 64
        channels = len(config.input_channels)
        self.stem = _conv(channels, w[0], 4, stride=4)  # 16x16: 4x4 patches
        self.down8 = nn.Sequential(_conv(w[0], w[1], 2, stride=2), _block(w[1]))  # 8x8
        self.down16 = nn.Sequential(_conv(w[1], w[2], 2, stride=2), _block(w[2]))  # 4x4
        self.down32 = nn.Sequential(_conv(w[2], w[3], 2, stride=2), _block(w[3]))  # 2x2
        self.down64 = _conv(w[3], w[4], 2, stride=2)  # 1x1
        # top-down: each finer level hears what the coarser one sees
        self.lateral = nn.ModuleList([nn.Conv2d(w[i + 1], w[i], 1) for i in (3, 2, 1)])
        self.q_embed = nn.Sequential(nn.Linear(len(config.scalars), 32), nn.ReLU(inplace=True))
        self.q_shift = nn.ModuleList([nn.Linear(32, c) for c in (w[4], w[3], w[2], w[1])])
        self.heads = nn.ModuleList([nn.Conv2d(c, NUM_PARTITIONS, 1) for c in (w[4], w[3], w[2], w[1])])

    def forward(
        self,
        luma: torch.Tensor,
        qindex: torch.Tensor,
        frame_size: torch.Tensor | None = None,
        frame_info: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``luma`` (N, 1 + references, W, W) in [0, 1] (W = config.window: the superblock's
        window, then its references'), ``qindex`` (N,) in [0, 1], ``frame_size`` (N, 2) log2
        width and height / 16, ``frame_info`` (N, 3) (each used when the config says so)."""
        x = normalise_blocks(luma[:, : 1 + self.config.references])  # each channel about its own mean
        if self.config.activity:
            x = torch.cat([x[:, :1], local_activity(x[:, :1]), x[:, 1:]], dim=1)
        f8 = self.down8(self.stem(x))
        f16 = self.down16(f8)
        if self.config.margin:  # back to the superblock's own cells
            c8, c16 = self.config.margin // 8, self.config.margin // 16
            f8, f16 = f8[..., c8 : c8 + 8, c8 : c8 + 8], f16[..., c16 : c16 + 4, c16 : c16 + 4]
        f32 = self.down32(f16)
        f64 = self.down64(f32)
        u32 = f32 + F.interpolate(self.lateral[0](f64), size=f32.shape[-2:], mode="nearest")
        u16 = f16 + F.interpolate(self.lateral[1](u32), size=f16.shape[-2:], mode="nearest")
        u8 = f8 + F.interpolate(self.lateral[2](u16), size=f8.shape[-2:], mode="nearest")
        scalars = qindex.view(-1, 1).float()
        if self.config.frame_size:
            scalars = torch.cat([scalars, frame_size.float()], dim=1)
        if self.config.frame_info:
            scalars = torch.cat([scalars, frame_info.float()], dim=1)
        q = self.q_embed(scalars)
        out = []
        for feats, shift, head in zip((f64, u32, u16, u8), self.q_shift, self.heads):
            logits = head(F.relu(feats + shift(q)[:, :, None, None]))
            out.append(logits.flatten(2).transpose(1, 2))  # (N, cells in raster order, 10)
        return torch.cat(out, dim=1)


def masked_log_probs(logits: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """Log-probabilities over each node's allowed types (-inf elsewhere; nodes with no
    allowed type get all -inf and must be ignored by the caller)."""
    return torch.log_softmax(logits.masked_fill(~allowed, float("-inf")), dim=-1)


def count_macs(config: SuperblockConfig) -> int:
    """Multiply-adds of one superblock's forward pass (convolutions and heads)."""
    net = SuperblockNet(config).eval()
    macs = 0

    def hook(module, inputs, output):
        nonlocal macs
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
            macs += output.numel() * k
        elif isinstance(module, nn.Linear):
            macs += module.in_features * module.out_features

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        window = torch.zeros(1, 1 + config.references, config.window, config.window)
        net(window, torch.zeros(1), torch.zeros(1, 2), torch.zeros(1, FRAME_INFO))
    for h in handles:
        h.remove()
    return macs
