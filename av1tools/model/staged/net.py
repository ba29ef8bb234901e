"""The staged partition network (the reference study's design): a ResNet-18 trunk on
luma blocks, Conv-Adapters, heads.

Stage 1 trains the trunk with its head. Later stages reuse the Stage-1 trunk frozen and
learn, per stage, Conv-Adapters after chosen layers plus a head (``adapter``), only a head
(``frozen``), or a fine-tuned copy of the trunk plus a head (``finetune``). Every head sees
the pooled 512-d features plus an embedding of the node's qindex and size: the same block
splits differently at different QPs and sizes.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import resnet18

from av1tools.model.common import normalise_blocks
from av1tools.model.staged.config import LAYERS, StagedConfig
from av1tools.partition import NODE_SIZES

FEATURES = 512
COND_DIM = 1 + len(NODE_SIZES)  # qindex, one-hot node size


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
        return F.batch_norm(
            x,
            self.running_mean[self.active],
            self.running_var[self.active],
            self.weight,
            self.bias,
            self.training,
            self.momentum,
            self.eps,
        )


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
            nn.Linear(FEATURES, 256),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(256, 128),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(128, num_classes),
        )

    def forward(self, features: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.mlp(features + self.cond(cond))


def condition(qindex: torch.Tensor, size_index: torch.Tensor) -> torch.Tensor:
    """(N, COND_DIM): qindex/255 and a one-hot of the node size."""
    return torch.cat([qindex.view(-1, 1).float(), F.one_hot(size_index.long(), len(NODE_SIZES)).float()], dim=1)


def prepare(pixels: torch.Tensor, config: StagedConfig) -> torch.Tensor:
    """Blocks in [0, 1] -> trunk input: normalised, resized only in ``resize`` mode."""
    x = normalise_blocks(pixels)
    if config.input_mode == "resize" and x.shape[-1] != config.resize_to:
        x = F.interpolate(x, size=(config.resize_to, config.resize_to), mode="bilinear", align_corners=False)
    return x


class Branch(nn.Module):
    """What one stage after Stage 1 adds to the shared Stage-1 trunk: a head, and per
    strategy adapters or a trunk of its own. Subclasses say how features are computed."""

    strategy = ""

    def __init__(self, num_classes: int, config: StagedConfig, trunk: nn.Module):
        super().__init__()
        self.add_own_parts(config, trunk)
        # The head last: its random initialisation then follows the adapters', as it always
        # did, so a seed trains the weights it trained before the branches became classes.
        self.head = StageHead(num_classes, config.head_dropout)

    def add_own_parts(self, config: StagedConfig, trunk: nn.Module) -> None:
        """What the strategy adds besides the head (created before it)."""

    def first_own_layer(self) -> int:
        """Index in LAYERS of the first trunk layer this branch changes (len(LAYERS): none):
        the layers before it are shared with Stage 1 and computed once per node."""
        return len(LAYERS)

    def trunk_to_run(self, shared: nn.Module) -> nn.Module:
        return shared

    def adapters_to_run(self) -> nn.ModuleDict | None:
        return None

    def start_from(self, trunk: nn.Module) -> None:
        """Called before the stage trains: take what it needs from the trained Stage 1."""


class FrozenBranch(Branch):
    """The frozen Stage-1 trunk and a head: the trunk's pooled features, unchanged."""

    strategy = "frozen"


class AdapterBranch(Branch):
    """Conv-Adapters after chosen layers of the frozen trunk, and a head."""

    strategy = "adapter"

    def add_own_parts(self, config: StagedConfig, trunk: nn.Module) -> None:
        self.adapters = nn.ModuleDict(
            {name: ConvAdapter(_channels(name), config.adapter_reduction) for name in config.adapter_layers}
        )

    def first_own_layer(self) -> int:
        return min((LAYERS.index(name) for name in self.adapters), default=len(LAYERS))

    def adapters_to_run(self) -> nn.ModuleDict | None:
        return self.adapters


class FinetuneBranch(Branch):
    """A copy of the Stage-1 trunk, fine-tuned, and a head."""

    strategy = "finetune"

    def add_own_parts(self, config: StagedConfig, trunk: nn.Module) -> None:
        self.trunk = copy.deepcopy(trunk)

    def first_own_layer(self) -> int:
        return -1  # even the stem is its own

    def trunk_to_run(self, shared: nn.Module) -> nn.Module:
        return self.trunk

    def start_from(self, trunk: nn.Module) -> None:
        self.trunk.load_state_dict(trunk.state_dict())


BRANCHES: dict[str, type[Branch]] = {b.strategy: b for b in (AdapterBranch, FrozenBranch, FinetuneBranch)}


def run_layers(
    trunk: nn.Module, x: torch.Tensor, layers: tuple[str, ...], adapters: nn.ModuleDict | None = None
) -> torch.Tensor:
    for name in layers:
        x = getattr(trunk, name)(x)
        if adapters is not None and name in adapters:
            x = adapters[name](x)
    return x


def stem(trunk: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return trunk.maxpool(trunk.relu(trunk.bn1(trunk.conv1(x))))


class StagedNet(nn.Module):
    """The Stage-1 trunk and head, plus one branch per later stage."""

    def __init__(self, config: StagedConfig, stage_classes: dict[str, int]):
        super().__init__()
        self.config = config
        self.trunk = luma_resnet18()
        self.heads = nn.ModuleDict({"stage1": StageHead(stage_classes["stage1"], config.head_dropout)})
        branch = BRANCHES[config.stage_strategy]
        self.branches = nn.ModuleDict(
            {name: branch(k, config, self.trunk) for name, k in stage_classes.items() if name != "stage1"}
        )

    def shared_prefix(self) -> tuple[str, ...]:
        """Trunk layers every stage computes identically (before any branch's own layer):
        computed once per node for all stages."""
        first = min((b.first_own_layer() for b in self.branches.values()), default=len(LAYERS))
        return LAYERS[:first] if first >= 0 else ()

    def _select_size(self, trunk: nn.Module, size_index: torch.Tensor | int) -> None:
        if isinstance(size_index, torch.Tensor):
            first = int(size_index.flatten()[0])
            if not bool((size_index == first).all()):
                raise ValueError("a batch must hold blocks of one node size")
            size_index = first
        set_node_size(trunk, size_index)

    def trunk_prefix(self, pixels: torch.Tensor, size_index: torch.Tensor | int) -> torch.Tensor:
        self._select_size(self.trunk, size_index)
        return run_layers(self.trunk, stem(self.trunk, prepare(pixels, self.config)), self.shared_prefix())

    def features(
        self,
        stage: str,
        pixels: torch.Tensor | None,
        size_index: torch.Tensor | int,
        prefix: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Pooled 512-d features of ``stage`` (from pixels, or from a shared prefix)."""
        branch = self.branches[stage] if stage != "stage1" else None
        trunk = branch.trunk_to_run(self.trunk) if branch else self.trunk
        self._select_size(trunk, size_index)
        if prefix is None or (branch is not None and branch.first_own_layer() < 0):
            x, done = stem(trunk, prepare(pixels, self.config)), ()
        else:
            x, done = prefix, self.shared_prefix()
        rest = tuple(name for name in LAYERS if name not in done)
        adapters = branch.adapters_to_run() if branch else None
        return torch.flatten(trunk.avgpool(run_layers(trunk, x, rest, adapters)), 1)

    def forward(
        self,
        stage: str,
        pixels: torch.Tensor,
        qindex: torch.Tensor,
        size_index: torch.Tensor,
        prefix: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Class logits of one stage."""
        feats = self.features(stage, pixels, size_index, prefix)
        head = self.heads["stage1"] if stage == "stage1" else self.branches[stage].head
        return head(feats, condition(qindex, size_index))

    def stage_modules(self, stage: str) -> list[nn.Module]:
        """The modules a stage trains (its branch holds what its strategy adds)."""
        if stage == "stage1":
            return [self.trunk, self.heads["stage1"]]
        return [self.branches[stage]]

    def stage_parameters(self, stage: str) -> list[nn.Parameter]:
        return [p for m in self.stage_modules(stage) for p in m.parameters()]

    def modules_run(self, stage: str) -> list[nn.Module]:
        """Everything a stage's prediction runs: what it trains, plus the shared trunk
        unless its branch brings its own."""
        if stage == "stage1" or self.branches[stage].first_own_layer() < 0:
            return self.stage_modules(stage)
        return self.stage_modules(stage) + [self.trunk]

    def frozen_modules(self, stage: str) -> list[nn.Module]:
        """Modules that must stay in eval mode while ``stage`` trains (their BatchNorm
        statistics belong to Stage 1)."""
        return [] if stage == "stage1" else [self.trunk]
