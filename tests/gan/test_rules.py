"""Update rules: losses and the gradient penalty against hand computations."""

import copy

import pytest
import torch
import torch.nn.functional as F

from gaussgan.gan import models, rules
from gaussgan.gan.packed import StackedNetwork


def test_vanilla_losses_are_binary_cross_entropy():
    d_real, d_fake = torch.tensor([2.0, -1.0, 0.5]), torch.tensor([-3.0, 0.2])
    expected = F.binary_cross_entropy_with_logits(d_real, torch.ones(3)) + F.binary_cross_entropy_with_logits(
        d_fake, torch.zeros(2)
    )
    assert torch.allclose(rules.vanilla_discriminator_loss(d_real, d_fake), expected)
    # non-saturating: -log sigmoid(D(G(z)))
    assert torch.allclose(rules.vanilla_generator_loss(d_fake), -torch.log(torch.sigmoid(d_fake)).mean())
    # no overflow for confident logits
    assert torch.isfinite(rules.vanilla_discriminator_loss(torch.tensor([1e4]), torch.tensor([-1e4])))


class SquareCritic(torch.nn.Module):
    """D(x) = 0.5 * a * ||x||^2, so grad D(x) = a * x: the penalty has a closed form."""

    def __init__(self, a: float):
        super().__init__()
        self.a = a

    def forward(self, x):
        return 0.5 * self.a * (x**2).sum(dim=-1)


def test_gradient_penalty_matches_hand_computation_per_sample():
    real = torch.tensor([[1.0, 2.0], [0.0, -1.0], [3.0, 0.5]])
    fake = torch.tensor([[-1.0, 0.0], [2.0, 2.0], [0.0, 0.0]])
    seed = 123
    weight = torch.rand(3, 1, generator=torch.Generator().manual_seed(seed))  # one weight per sample
    mixed = (weight * real + (1 - weight) * fake).requires_grad_(True)
    penalty = rules.gradient_penalty(*rules.input_gradients([SquareCritic(0.7)(mixed)], [mixed]))
    per_sample_norm = (0.7 * mixed).norm(dim=1)
    assert torch.allclose(penalty, ((per_sample_norm - 1) ** 2).mean())
    assert len(set(weight.flatten().tolist())) == 3


def test_gradient_penalty_of_a_linear_critic_is_its_weight_norm():
    critic = torch.nn.Linear(4, 1)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[3.0, 0.0, 4.0, 0.0]]))
    mixed = torch.randn(7, 4).requires_grad_(True)
    penalty = rules.gradient_penalty(*rules.input_gradients([critic(mixed).squeeze(-1)], [mixed]))
    assert torch.allclose(penalty, torch.tensor((5.0 - 1.0) ** 2))


def test_penalty_is_differentiable_for_the_critic_step():
    critic = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.LeakyReLU(0.2), torch.nn.Linear(8, 1))
    mixed = torch.randn(5, 3).requires_grad_(True)
    penalty = rules.gradient_penalty(*rules.input_gradients([critic(mixed).squeeze(-1)], [mixed]))
    penalty.backward()
    assert critic[0].weight.grad is not None and critic[0].weight.grad.abs().sum() > 0


def test_wgan_losses():
    d_real, d_fake = torch.tensor([1.0, 3.0]), torch.tensor([0.5, -0.5, 1.0])
    assert torch.allclose(rules.wgan_critic_loss(d_real, d_fake), torch.tensor(1.0 / 3 - 2.0))
    assert torch.allclose(rules.wgan_generator_loss(d_fake), torch.tensor(-1.0 / 3))


def test_adam_is_fused_on_cuda_only():
    weights = [torch.nn.Parameter(torch.zeros(3))]
    optimizer = rules.adam(weights, 1e-3, (0.5, 0.999), torch.device("cpu"))
    assert isinstance(optimizer, torch.optim.Adam)
    assert not optimizer.defaults["fused"]
    assert (optimizer.defaults["lr"], optimizer.defaults["betas"]) == (1e-3, (0.5, 0.999))
    if torch.cuda.is_available():
        weights = [torch.nn.Parameter(torch.zeros(3, device="cuda"))]
        assert rules.adam(weights, 1e-3, (0.5, 0.999), "cuda").defaults["fused"]


class SGD:
    """Plain gradient descent on a stacked network's weights: the step functions' optimiser, made simple."""

    def __init__(self, network: StackedNetwork, lr: float):
        self.network, self.lr = network, lr

    @torch.no_grad()
    def update(self, gradient):
        self.network.weights.sub_(self.lr * gradient)


def tiny_gan(replicas: int = 1):
    torch.manual_seed(0)
    generator = StackedNetwork([torch.nn.Sequential(torch.nn.Linear(2, 3)) for _ in range(replicas)])
    discriminator = StackedNetwork([torch.nn.Sequential(torch.nn.Linear(3, 1)) for _ in range(replicas)])
    return generator, discriminator, (lambda size: torch.randn(replicas, size, 2))


def test_an_unknown_rule_is_refused_not_sent_to_wgan_gp():
    generator, discriminator, latent = tiny_gan()
    before = discriminator.weights.detach().clone()
    for rule in ("wasserstein", "van", "WGAN-GP"):
        with pytest.raises(ValueError, match="unknown rule"):
            rules.discriminator_step(
                rule, generator, discriminator, SGD(discriminator, 0.1), torch.randn(1, 4, 3), latent
            )
        with pytest.raises(ValueError, match="unknown rule"):
            rules.generator_step(rule, generator, discriminator, SGD(generator, 0.1), 4, latent)
    assert torch.equal(before, discriminator.weights)  # nothing stepped


def test_every_listed_rule_steps_and_penalty_options_are_keyword_only():
    generator, discriminator, latent = tiny_gan(replicas=2)
    real, mixing = torch.randn(2, 4, 3), (lambda size: torch.rand(2, size, 1))
    for rule in rules.RULES:
        loss = rules.discriminator_step(
            rule, generator, discriminator, SGD(discriminator, 0.1), real, latent, gp_weight=1.0, mixing=mixing
        )
        assert loss.shape == (2,) and torch.isfinite(loss).all()
        assert torch.isfinite(
            rules.generator_step(rule, generator, discriminator, SGD(generator, 0.1), 4, latent)
        ).all()
    with pytest.raises(TypeError):  # a weight and a draw must not be swapped by position
        rules.discriminator_step(
            "wgan-gp", generator, discriminator, SGD(discriminator, 0.1), real, latent, 10.0, mixing
        )


def test_r1_penalty_of_a_linear_discriminator_is_its_squared_weight_norm():
    """For D(x) = w.x + b the gradient at every x is w, so E||grad D(real)||^2 = ||w||^2 exactly."""
    discriminator = torch.nn.Linear(3, 1)
    real = torch.randn(16, 3).requires_grad_(True)
    penalty = rules.r1_penalty(*rules.input_gradients([discriminator(real).squeeze(-1)], [real]))
    assert torch.allclose(penalty, discriminator.weight.pow(2).sum())


def test_r1_weight_changes_the_discriminator_step_by_its_penalty_gradient():
    """A step with r1_weight moves D's weights as the loss plus gamma/2 * ||w||^2 says (plain SGD, linear D)."""
    torch.manual_seed(0)
    real, fake = torch.randn(1, 8, 3), torch.randn(1, 8, 3)
    steps = {}
    for gamma in (0.0, 4.0):
        linear = torch.nn.Linear(3, 1)
        linear.load_state_dict({"weight": torch.ones(1, 3), "bias": torch.zeros(1)})
        discriminator = StackedNetwork([torch.nn.Sequential(linear)])
        rules.discriminator_step(
            "vanilla", lambda z: fake, discriminator, SGD(discriminator, 1.0), real, lambda n: None, r1_weight=gamma
        )
        steps[gamma] = discriminator.weights.detach()[0, :3].clone()  # the weight row, then the bias
    # The penalty's gradient is gamma * w = 4 * (1, 1, 1) at the starting weights: SGD with lr 1 subtracts it.
    assert torch.allclose(steps[0.0] - steps[4.0], torch.full((3,), 4.0), atol=1e-6)


@pytest.mark.parametrize("rule", rules.RULES)
def test_replicas_never_mix_a_step_of_three_is_three_steps_of_one(rule):
    """Each replica of a stacked step moves as it would alone, and a replica gone NaN leaves the others finite."""
    torch.manual_seed(1)
    sizes = [4, 16, 16, 3]
    generators = [models.mlp(sizes, batch_norm=True) for _ in range(3)]
    critics = [models.mlp([3, 16, 16, 1]) for _ in range(3)]
    real, z, mixing = torch.randn(3, 32, 3), torch.randn(3, 32, 4), torch.rand(3, 32, 1)
    weights = {"gp_weight": torch.tensor([10.0, 1.0, 5.0]), "r1_weight": torch.tensor([0.0, 2.0, 1.0])}

    def step(which: list[int], poison: int | None = None):
        generator = StackedNetwork([copy.deepcopy(generators[i]) for i in which])
        critic = StackedNetwork([copy.deepcopy(critics[i]) for i in which])
        if poison is not None:
            with torch.no_grad():
                critic.weights[poison, 0] = float("nan")
        picked = {name: value[which] for name, value in weights.items()}
        losses = rules.discriminator_step(
            rule, generator, critic, SGD(critic, 0.01), real[which], lambda size: z[which],
            mixing=lambda size: mixing[which], **picked,
        )  # fmt: skip
        losses = torch.cat(
            [losses, rules.generator_step(rule, generator, critic, SGD(generator, 0.01), 32, lambda size: z[which])]
        )
        return critic.weights.detach(), generator.weights.detach(), losses

    together = step([0, 1, 2])
    for i in range(3):
        alone = step([i])
        assert torch.allclose(together[0][i], alone[0][0], atol=1e-5)
        assert torch.allclose(together[1][i], alone[1][0], atol=1e-5)
        assert torch.allclose(together[2][[i, 3 + i]], alone[2], atol=1e-5)
    critic, generator, losses = step([0, 1, 2], poison=1)
    assert torch.isnan(critic[1]).any() and torch.isnan(losses[1])
    for i in (0, 2):
        assert torch.allclose(critic[i], together[0][i]) and torch.allclose(generator[i], together[1][i])


def test_one_pass_over_real_fake_and_mixed_samples_is_the_loss_of_separate_passes():
    """The D-step scores every sample in one pass; its loss (WGAN-GP, gradient penalty and R1) is the one
    written with a pass per kind of sample."""
    torch.manual_seed(2)
    critic_net = models.mlp([3, 16, 16, 1])
    real, z, weight = torch.randn(1, 32, 3), torch.randn(1, 32, 4), torch.rand(1, 32, 1)
    generator = StackedNetwork([models.mlp([4, 16, 3])])
    critic = StackedNetwork([copy.deepcopy(critic_net)])
    loss = rules.discriminator_step(
        "wgan-gp", generator, critic, SGD(critic, 0.0), real, lambda size: z, gp_weight=10.0,
        mixing=lambda size: weight, r1_weight=4.0,
    )  # fmt: skip
    with torch.no_grad():
        fake = generator(z)[0]
    x = real[0].clone().requires_grad_(True)
    mixed = (weight[0] * real[0] + (1 - weight[0]) * fake).requires_grad_(True)
    d_real = critic_net(x).squeeze(-1)
    (at_mixed,) = torch.autograd.grad(critic_net(mixed).sum(), mixed)
    (at_real,) = torch.autograd.grad(d_real.sum(), x)
    expected = (
        critic_net(fake).mean() - d_real.mean()
        + 10.0 * ((at_mixed.norm(dim=1) - 1) ** 2).mean()
        + 4.0 / 2 * at_real.pow(2).sum(dim=1).mean()
    )  # fmt: skip
    assert torch.allclose(loss, expected.detach(), atol=1e-5)
