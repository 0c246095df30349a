"""Several runs' networks trained as one: K replicas of a network stacked into batched matrix products.

The networks of a default run are tiny (three hidden layers of 128, batch 64): a training step is bound by
the cost of launching ~100 small operations, not by arithmetic. Stacked, K runs' D-steps and G-steps are
the same ~100 operations on K times the numbers (``torch.baddbmm`` instead of ``nn.Linear``), until the
arithmetic itself is the cost: on one CPU core, 8 runs together take about half the time of 8 alone
(docs/performance.md). A single run is the same with K = 1: it gains from the rest
of the design, one flat weight tensor per network, so that Adam and the moving average are a handful
of operations instead of a handful per weight matrix.

Replicas never mix: every operation is per replica (batched products, means over the batch axis), the
losses are summed only to take one backward pass, and a replica's gradient is its own loss's gradient.

Between epochs each run's networks, optimisers and moving average live in its own
:class:`~gaussgan.gan.checkpoint.State`, as in a run trained alone: :class:`Pack` copies them in at the
start of a pass over the data and back out at its end, so every file a run writes is an ordinary run's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.adam import adam

if TYPE_CHECKING:
    from gaussgan.gan.options import TrainConfig


@dataclass(frozen=True)
class Layer:
    """One layer of an MLP as :func:`gaussgan.gan.models.mlp` builds it."""

    kind: str  # linear, batch_norm or leaky_relu
    width_in: int = 0
    width_out: int = 0
    slope: float = 0.0  # leaky_relu's negative slope
    momentum: float = 0.1  # batch_norm's
    eps: float = 1e-5


def layers_of(network: nn.Sequential) -> list[Layer]:
    """The layers of ``network``; a ValueError for a layer :func:`gaussgan.gan.models.mlp` does not build."""
    found = []
    for module in network:
        if isinstance(module, nn.Linear):
            found.append(Layer("linear", module.in_features, module.out_features))
        elif isinstance(module, nn.BatchNorm1d):
            momentum = 0.1 if module.momentum is None else module.momentum
            found.append(
                Layer("batch_norm", module.num_features, module.num_features, momentum=momentum, eps=module.eps)
            )
        elif isinstance(module, nn.LeakyReLU):
            found.append(Layer("leaky_relu", slope=module.negative_slope))
        else:
            raise ValueError(f"cannot stack a {type(module).__name__} layer")
    return found


def buffer(norm: nn.BatchNorm1d, name: str) -> torch.Tensor:
    """One of a BatchNorm's statistics (always there: mlp() builds it with track_running_stats)."""
    return cast(torch.Tensor, getattr(norm, name))


def layers(network: nn.Module) -> nn.Sequential:
    """The layers of a Generator or Discriminator (its ``net``)."""
    return cast(nn.Sequential, network.net)


class StackedNetwork:
    """K networks of one architecture: their weights as one (K, P) tensor, in ``parameters()`` order.

    ``weights`` is a leaf tensor; the layers' matrices are views of it made at every call, so that the
    gradient of the whole network is one (K, P) tensor too. BatchNorm running statistics are (K, C)."""

    def __init__(self, networks: list[nn.Sequential], *, requires_grad: bool = True):
        self.layers = layers_of(networks[0])
        self.sizes = [parameter.numel() for parameter in networks[0].parameters()]
        with torch.no_grad():
            self.weights = torch.stack([nn.utils.parameters_to_vector(net.parameters()) for net in networks])
        self.weights.requires_grad_(requires_grad)
        norms = [[module for module in net if isinstance(module, nn.BatchNorm1d)] for net in networks]
        self.running = [
            (
                torch.stack([buffer(n[i], "running_mean") for n in norms]),
                torch.stack([buffer(n[i], "running_var") for n in norms]),
            )
            for i in range(len(norms[0]))
        ]
        self.training = networks[0].training
        self.batches = 0  # training-mode calls: each BatchNorm counts them (num_batches_tracked)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(K, B, width_in) -> (K, B, width_out). One replica takes the plain 2-D path (matrix products
        and BatchNorm as ``nn.Linear`` and ``nn.BatchNorm1d`` compute them), which is faster than batched ones of one."""
        replicas, size = len(self.weights), x.shape[1]
        single = replicas == 1
        self.batches += self.training and bool(self.running)
        pieces = iter(self.weights.split(self.sizes, dim=1))
        running = iter(self.running)
        if single:
            x = x.squeeze(0)
        for layer in self.layers:
            if layer.kind == "linear":
                weight, bias = next(pieces), next(pieces)
                if single:  # views of the one row: a select would cost a zero-filled copy in every backward pass
                    x = torch.addmm(bias.view(-1), x, weight.view(layer.width_out, layer.width_in).T)
                else:
                    weight = weight.view(replicas, layer.width_out, layer.width_in)
                    x = torch.baddbmm(bias.view(replicas, 1, layer.width_out), x, weight.transpose(1, 2))
            elif layer.kind == "leaky_relu":
                x = F.leaky_relu(x, layer.slope)
            else:  # BatchNorm over each replica's batch: channels of all replicas side by side, (B, K * C)
                scale, shift = next(pieces).reshape(-1), next(pieces).reshape(-1)
                means, variances = next(running)
                flat = x if single else x.transpose(0, 1).reshape(size, -1)
                flat = F.batch_norm(
                    flat, means.view(-1), variances.view(-1), scale, shift, self.training, layer.momentum, layer.eps
                )
                x = flat if single else flat.view(size, replicas, -1).transpose(0, 1)
        return x.unsqueeze(0) if single else x

    @torch.no_grad()
    def copy_to(self, networks: list[nn.Sequential]) -> None:
        """Each replica's weights (and BatchNorm statistics) into its own network."""
        for replica, net in enumerate(networks):
            for parameter, piece in zip(net.parameters(), self.weights[replica].split(self.sizes), strict=True):
                parameter.copy_(piece.view_as(parameter))
            norms = [module for module in net if isinstance(module, nn.BatchNorm1d)]
            for norm, (means, variances) in zip(norms, self.running, strict=True):
                buffer(norm, "running_mean").copy_(means[replica])
                buffer(norm, "running_var").copy_(variances[replica])
                buffer(norm, "num_batches_tracked").add_(self.batches)


class StackedAdam:
    """Adam on a (K, P) weight tensor: :class:`torch.optim.Adam`, fused, each replica's row a parameter, the
    rows of replicas with the same learning rate and betas in one parameter group (one fused call for a
    pack that differs by its seeds only).

    A row is a detached view of the stacked weights, so the optimiser updates them in place. The state comes
    from, and goes back to, each replica's own ``torch.optim.Adam`` (one entry per weight matrix and bias),
    which keeps it between passes over the data in the format every checkpoint holds."""

    def __init__(
        self, weights: torch.Tensor, optimizers: list[torch.optim.Optimizer], sizes: list[int], rates: list[float]
    ):
        self.optimizers, self.sizes = optimizers, sizes
        self.lr = rates  # each replica's rate at the schedule's factor 1
        self.rows = list(weights.detach())
        settings = [
            (rate, *(optimizer.param_groups[0][key] for key in ("betas", "eps")))
            for rate, optimizer in zip(rates, optimizers, strict=True)
        ]
        distinct = list(dict.fromkeys(settings))
        self.group = [distinct.index(setting) for setting in settings]  # each replica's parameter group
        self.optimizer = torch.optim.Adam(
            [
                {"params": [row for row, setting in zip(self.rows, settings, strict=True) if setting == chosen],
                 "lr": chosen[0], "betas": chosen[1], "eps": chosen[2]}
                for chosen in distinct
            ],
            fused=True,
        )  # fmt: skip
        for group, chosen in zip(self.optimizer.param_groups, distinct, strict=True):
            group["replicas"] = [replica for replica, setting in enumerate(settings) if setting == chosen]
        self.moments: list[tuple[list, list, list]] | None = None  # per group, made at the first update
        for row, optimizer in zip(self.rows, optimizers, strict=True):
            states = [optimizer.state.get(parameter, {}) for parameter in optimizer.param_groups[0]["params"]]
            if states and all(states):
                self.optimizer.state[row] = {
                    "step": states[0]["step"].detach().to(row.device, torch.float32).clone(),
                    "exp_avg": torch.cat([state["exp_avg"].reshape(-1) for state in states]),
                    "exp_avg_sq": torch.cat([state["exp_avg_sq"].reshape(-1) for state in states]),
                }

    def set_factor(self, factor: float) -> None:
        """Every replica's learning rate at ``factor`` times its own (the schedule is shared)."""
        for replica, rate in enumerate(self.lr):
            self.optimizer.param_groups[self.group[replica]]["lr"] = rate * factor

    def update(self, gradient: torch.Tensor) -> None:
        """One Adam step of every replica, a replica's row of ``gradient`` its own. torch's functional Adam
        on the optimiser's groups and state: ``Optimizer.step`` adds about 60 us of bookkeeping per call (117
        against 59 us on one CPU core), two calls in every step, for what is fixed here (no hooks, no
        closure, every row stepped)."""
        if self.moments is None:
            self.moments = [self.first_state(group) for group in self.optimizer.param_groups]
        for group, (averages, squares, steps) in zip(self.optimizer.param_groups, self.moments, strict=True):
            gradients = [gradient[replica] for replica in group["replicas"]]
            beta1, beta2 = group["betas"]
            adam(
                group["params"], gradients, averages, squares, [], steps, fused=True, amsgrad=False,
                beta1=beta1, beta2=beta2, lr=group["lr"], weight_decay=0.0, eps=group["eps"], maximize=False,
            )  # fmt: skip

    def first_state(self, group: dict) -> tuple[list, list, list]:
        """The moments and step counts of a group's rows, made as ``torch.optim.Adam`` makes them (zeros, a
        float32 step on the row's device) for rows that have taken no step yet."""
        for row in group["params"]:
            if not self.optimizer.state.get(row):
                self.optimizer.state[row] = {
                    "step": torch.zeros((), dtype=torch.float32, device=row.device),
                    "exp_avg": torch.zeros_like(row),
                    "exp_avg_sq": torch.zeros_like(row),
                }
        states = [self.optimizer.state[row] for row in group["params"]]
        return [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states], [s["step"] for s in states]

    @torch.no_grad()
    def copy_to_optimizers(self) -> None:
        """Each replica's moments, step count and rate into its own ``torch.optim.Adam``, as if it had taken the steps."""
        for row, optimizer, group in zip(self.rows, self.optimizers, self.group, strict=True):
            optimizer.param_groups[0]["lr"] = self.optimizer.param_groups[group]["lr"]
            state = self.optimizer.state.get(row)
            if not state:
                continue
            parameters = optimizer.param_groups[0]["params"]
            averages, squares = state["exp_avg"].split(self.sizes), state["exp_avg_sq"].split(self.sizes)
            for parameter, average, square in zip(parameters, averages, squares, strict=True):
                step = optimizer.state.get(parameter, {}).get("step")
                device = step.device if isinstance(step, torch.Tensor) else torch.device("cpu")
                optimizer.state[parameter] = {
                    "step": state["step"].detach().to(device, torch.float32).clone(),
                    "exp_avg": average.view_as(parameter).clone(),
                    "exp_avg_sq": square.view_as(parameter).clone(),
                }


def together(tensors: list[torch.Tensor]) -> torch.Tensor:
    """Per-replica tensors stacked along a new first axis (a view for one replica, no copy)."""
    return tensors[0].unsqueeze(0) if len(tensors) == 1 else torch.stack(tensors)


def column(values: list[float], like: torch.Tensor) -> torch.Tensor:
    """One value per replica, as a (K, 1) tensor that broadcasts over each replica's row."""
    return torch.tensor(values, dtype=like.dtype, device=like.device).unsqueeze(1)


class Pack:
    """The runs trained together through one pass over the data.

    Their networks, optimisers and moving averages are stacked; their random generators stay apart, so each
    replica draws its sample order, latent vectors and penalty weights from its own stream, as alone. What
    may differ between the runs is what :data:`PER_REPLICA` lists; everything else is shared (the caller
    checks it with :func:`pack_key`).
    """

    def __init__(self, states: list, configs: list[TrainConfig]):  # states: each run's checkpoint.State
        self.states, self.configs = states, configs
        self.generator = StackedNetwork([layers(state.generator) for state in states])
        self.discriminator = StackedNetwork([layers(state.discriminator) for state in states])
        self.average = StackedNetwork([layers(state.ema.model) for state in states], requires_grad=False)
        weights = self.generator.weights
        self.optimizer_g = StackedAdam(
            weights, [state.optimizer_g for state in states], self.generator.sizes, [c.lr for c in configs]
        )
        self.optimizer_d = StackedAdam(
            self.discriminator.weights,
            [state.optimizer_d for state in states],
            self.discriminator.sizes,
            [config.lr * config.d_lr_ratio for config in configs],
        )
        self.decay = column([state.ema.decay for state in states], weights)
        self.sigma = column([config.latent_sigma for config in configs], weights).unsqueeze(2)
        self.gp_weight = column([config.gp_weight for config in configs], weights).squeeze(1)
        # None when no run has the penalty: the step then skips it (deciding that from the tensor would wait
        # for the GPU at every step).
        with_r1 = any(config.r1_weight for config in configs)
        self.r1_weight = column([config.r1_weight for config in configs], weights).squeeze(1) if with_r1 else None
        self.latent_dim = configs[0].latent_dim

    def latent(self, size: int) -> torch.Tensor:
        """Latent vectors, (K, size, latent_dim), each replica's from its own generator."""
        device = self.generator.weights.device
        draws = [torch.randn(size, self.latent_dim, generator=state.rng, device=device) for state in self.states]
        return together(draws) * self.sigma

    def mixing(self, size: int) -> torch.Tensor:
        """The gradient penalty's mixing weights, (K, size, 1), each replica's from its own generator."""
        like = self.generator.weights
        draws = [
            torch.rand(size, 1, device=like.device, dtype=like.dtype, generator=state.rng) for state in self.states
        ]
        return together(draws)

    def set_learning_rate(self, factor: float) -> None:
        """Every replica's rates at ``factor`` times its own (the schedule is shared)."""
        self.optimizer_g.set_factor(factor)
        self.optimizer_d.set_factor(factor)

    @torch.no_grad()
    def update_average(self) -> None:
        """The generators' moving averages follow them, as :class:`gaussgan.gan.models.EMA` does for one."""
        self.average.weights.lerp_(self.generator.weights.detach(), 1 - self.decay)

    def unpack(self) -> None:
        """Everything trained back into each run's own state: networks, moving average, optimisers, rates."""
        self.generator.copy_to([layers(state.generator) for state in self.states])
        self.discriminator.copy_to([layers(state.discriminator) for state in self.states])
        self.average.copy_to([layers(state.ema.model) for state in self.states])
        self.optimizer_g.copy_to_optimizers()
        self.optimizer_d.copy_to_optimizers()


# What runs trained together may differ in; every other option is the pack's. The seed, the name and whether
# it resumes are the run's own; the rest are one number per replica in the step (its learning rates, its
# penalties' weights).
PER_REPLICA = ("seed", "postfix", "command", "resume", "lr", "d_lr_ratio", "gp_weight", "r1_weight")


def pack_key(config: TrainConfig) -> dict:
    """The options runs must share to be trained together: every one but :data:`PER_REPLICA`."""
    return {name: value for name, value in vars(config).items() if name not in PER_REPLICA}
