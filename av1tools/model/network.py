"""The staged partition predictor: a ResNet-18 trunk on luma blocks, Conv-Adapters, heads.

Stage 1 trains the trunk with its head. Later stages reuse the Stage-1 trunk frozen and
learn, per stage, Conv-Adapters after chosen layers plus a head (``adapter``), only a head
(``frozen``), or a fine-tuned copy of the trunk plus a head (``finetune``). Every head sees
the pooled 512-d features plus an embedding of the node's qindex and size: the same block
splits differently at different QPs and sizes.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import resnet18

from av1tools.partition import NODE_SIZES

LAYERS = ("layer1", "layer2", "layer3", "layer4")
FEATURES = 512
COND_DIM = 1 + len(NODE_SIZES)  # qindex, one-hot node size
BLOCK_STD = 0.1  # typical std of a luma block in [0, 1]: inputs reach unit scale


@dataclass(frozen=True)
class ModelConfig:
    input_mode: str = "native"  # "native": blocks at their own size; "resize": all to resize_to
    resize_to: int = 64
    adapter_layers: tuple[str, ...] = ("layer3", "layer4")
    adapter_reduction: int = 4
    stage_strategy: str = "adapter"  # for stages after 1: adapter | frozen | finetune
    head_dropout: float = 0.2

    def to_dict(self) -> dict:
        d = asdict(self)
        d["adapter_layers"] = list(self.adapter_layers)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        d = dict(d)
        d["adapter_layers"] = tuple(d.get("adapter_layers", ()))
        return cls(**d)


class SizeBatchNorm2d(nn.Module):
    """BatchNorm with one set of running statistics per node size and shared affine weights.

    Blocks of different sizes give the same layer very differently sized and scaled maps
    (an 8x8 block is 1x1 by layer2); one shared set of running statistics fits none of
    them at eval time. Each batch holds a single node size (``set_node_size``)."""

    def __init__(self, num_features: int, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(len(NODE_SIZES), num_features))
        self.register_buffer("running_var", torch.ones(len(NODE_SIZES), num_features))
        self.momentum, self.eps = momentum, eps
        self.active = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Row views: batch_norm updates the active size's statistics in place.
        return F.batch_norm(x, self.running_mean[self.active], self.running_var[self.active],
                            self.weight, self.bias, self.training, self.momentum, self.eps)


def set_node_size(module: nn.Module, size_index: int) -> None:
    for m in module.modules():
        if isinstance(m, SizeBatchNorm2d):
            m.active = size_index


def luma_resnet18() -> nn.Module:
    """torchvision's ResNet-18 (never pretrained, never downloaded) for 1-channel input,
    with per-node-size BatchNorm statistics, classifier removed: it returns the 512-d
    pooled features."""
    net = resnet18(weights=None, norm_layer=SizeBatchNorm2d)
    net.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
    net.fc = nn.Identity()
    return net


def _channels(layer: str) -> int:
    return {"layer1": 64, "layer2": 128, "layer3": 256, "layer4": 512}[layer]


class ConvAdapter(nn.Module):
    """Chen et al.'s Conv-Adapter: h' = h + alpha * Up1x1(ReLU(DW3x3(Down1x1(h)))).

    Up starts at zero, so the adapted trunk starts exactly equal to the frozen one; Down and
    DW still learn from the first step, since Up receives a gradient straight away.
    """

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.down = nn.Conv2d(channels, hidden, 1, bias=False)
        self.dw = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden, bias=False)
        self.up = nn.Conv2d(hidden, channels, 1, bias=False)
        self.alpha = nn.Parameter(torch.ones(channels))
        nn.init.kaiming_normal_(self.down.weight, nonlinearity="relu")
        nn.init.kaiming_normal_(self.dw.weight, nonlinearity="relu")
        nn.init.zeros_(self.up.weight)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        delta = self.up(F.relu(self.dw(self.down(h))))
        return h + self.alpha.view(1, -1, 1, 1) * delta


class StageHead(nn.Module):
    """Condition embedding added to the pooled features, then 512 -> 256 -> 128 -> k."""

    def __init__(self, num_classes: int, dropout: float = 0.2):
        super().__init__()
        self.cond = nn.Linear(COND_DIM, FEATURES)
        self.mlp = nn.Sequential(
            nn.Linear(FEATURES, 256), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(256, 128), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(128, num_classes),
        )

    def forward(self, features: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.mlp(features + self.cond(cond))


def condition(qindex: torch.Tensor, size_index: torch.Tensor) -> torch.Tensor:
    """(N, COND_DIM): qindex/255 and a one-hot of the node size."""
    return torch.cat([qindex.view(-1, 1).float(),
                      F.one_hot(size_index.long(), len(NODE_SIZES)).float()], dim=1)


def prepare(pixels: torch.Tensor, config: ModelConfig) -> torch.Tensor:
    """Blocks in [0, 1] -> trunk input: mean removed (brightness does not decide a
    partition, texture does), scaled to unit range, resized only in ``resize`` mode."""
    x = (pixels - pixels.mean(dim=(2, 3), keepdim=True)) / BLOCK_STD
    if config.input_mode == "resize" and x.shape[-1] != config.resize_to:
        x = F.interpolate(x, size=(config.resize_to, config.resize_to), mode="bilinear",
                          align_corners=False)
    return x


class StageBranch(nn.Module):
    """What one stage after Stage 1 adds: adapters (keyed by layer name) or a fine-tuned
    trunk copy, and its head."""

    def __init__(self, num_classes: int, config: ModelConfig, trunk: nn.Module | None = None):
        super().__init__()
        self.strategy = config.stage_strategy
        self.adapters = nn.ModuleDict(
            {name: ConvAdapter(_channels(name), config.adapter_reduction)
             for name in config.adapter_layers} if self.strategy == "adapter" else {})
        self.trunk = copy.deepcopy(trunk) if self.strategy == "finetune" and trunk is not None else None
        self.head = StageHead(num_classes, config.head_dropout)


def run_layers(trunk: nn.Module, x: torch.Tensor, layers: tuple[str, ...],
               adapters: nn.ModuleDict | None = None) -> torch.Tensor:
    for name in layers:
        x = getattr(trunk, name)(x)
        if adapters is not None and name in adapters:
            x = adapters[name](x)
    return x


def stem(trunk: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return trunk.maxpool(trunk.relu(trunk.bn1(trunk.conv1(x))))


class StagedPredictor(nn.Module):
    """The Stage-1 trunk and head, plus one branch per later stage."""

    def __init__(self, config: ModelConfig, stage_classes: dict[str, int]):
        super().__init__()
        self.config = config
        self.trunk = luma_resnet18()
        self.heads = nn.ModuleDict({"stage1": StageHead(stage_classes["stage1"], config.head_dropout)})
        self.branches = nn.ModuleDict(
            {name: StageBranch(k, config, self.trunk) for name, k in stage_classes.items()
             if name != "stage1"})

    def shared_prefix(self) -> tuple[str, ...]:
        """Trunk layers every stage computes identically (before the first adapted layer):
        computed once per node for all stages."""
        if self.config.stage_strategy == "finetune":
            return ()
        if self.config.stage_strategy == "frozen":
            return LAYERS
        first = min(LAYERS.index(l) for l in self.config.adapter_layers) if self.config.adapter_layers else 4
        return LAYERS[:first]

    def _select_size(self, trunk: nn.Module, size_index: torch.Tensor | int) -> None:
        if isinstance(size_index, torch.Tensor):
            first = int(size_index.flatten()[0])
            if not bool((size_index == first).all()):
                raise ValueError("a batch must hold blocks of one node size")
            size_index = first
        set_node_size(trunk, size_index)

    def trunk_prefix(self, pixels: torch.Tensor, size_index: torch.Tensor | int) -> torch.Tensor:
        self._select_size(self.trunk, size_index)
        return run_layers(self.trunk, stem(self.trunk, prepare(pixels, self.config)),
                          self.shared_prefix())

    def features(self, stage: str, pixels: torch.Tensor | None, size_index: torch.Tensor | int,
                 prefix: torch.Tensor | None = None) -> torch.Tensor:
        """Pooled 512-d features of ``stage`` (from pixels, or from a shared prefix)."""
        if stage == "stage1" or self.config.stage_strategy != "finetune":
            trunk = self.trunk
        else:
            trunk = self.branches[stage].trunk
        self._select_size(trunk, size_index)
        if prefix is None or (stage != "stage1" and self.config.stage_strategy == "finetune"):
            x, done = stem(trunk, prepare(pixels, self.config)), ()
        else:
            x, done = prefix, self.shared_prefix()
        rest = tuple(l for l in LAYERS if l not in done)
        adapters = self.branches[stage].adapters if stage != "stage1" else None
        return torch.flatten(trunk.avgpool(run_layers(trunk, x, rest, adapters)), 1)

    def forward(self, stage: str, pixels: torch.Tensor, qindex: torch.Tensor,
                size_index: torch.Tensor, prefix: torch.Tensor | None = None) -> torch.Tensor:
        """Class logits of one stage."""
        feats = self.features(stage, pixels, size_index, prefix)
        head = self.heads["stage1"] if stage == "stage1" else self.branches[stage].head
        return head(feats, condition(qindex, size_index))

    def stage_modules(self, stage: str) -> list[nn.Module]:
        """The modules a stage trains (its strategy decides what its branch holds)."""
        if stage == "stage1":
            return [self.trunk, self.heads["stage1"]]
        return [self.branches[stage]]

    def stage_parameters(self, stage: str) -> list[nn.Parameter]:
        return [p for m in self.stage_modules(stage) for p in m.parameters()]

    def frozen_modules(self, stage: str) -> list[nn.Module]:
        """Modules that must stay in eval mode while ``stage`` trains (their BatchNorm
        statistics belong to Stage 1)."""
        return [] if stage == "stage1" else [self.trunk]
