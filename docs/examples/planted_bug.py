"""Find a planted bug: a PyTorch WGAN-GP penalty with the gradient norm over the wrong axis.

A widely copied WGAN-GP implementation computed ``gradient.norm(2, dim=1)`` on image
gradients of shape (N, C, H, W): a norm over the channels at every pixel, not over the
whole sample. This script builds the same small critic in PyTorch and in scratchgan,
and compares, in float64:

1. the critic itself: outputs and first-order gradients (``compare_with_torch``);
2. the penalty and its gradient with respect to the critic's weights, a second-order
   quantity, for a correct PyTorch penalty and for the one with the planted bug;
3. scratchgan's own penalty against finite differences (``gradcheck`` through
   ``functional_call``), so the reference itself is checked independently.

    python docs/examples/planted_bug.py
"""

import numpy as np
import torch

import scratchgan as sg
from scratchgan.check import ParityReport, compare_with_torch
from scratchgan.nn.utils import functional_call

CORRECT_AXES = (1, 2, 3)  # every axis but the batch axis: the whole sample
PLANTED_BUG_AXES = (1,)  # the channel axis only, as in the widely copied code


def torch_critic():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, stride=2, padding=1), torch.nn.LeakyReLU(0.2),
        torch.nn.Flatten(), torch.nn.Linear(4 * 4 * 4, 1),
    ).double()


def scratchgan_critic():
    return sg.nn.Sequential(
        sg.nn.Conv2d(1, 4, 3, stride=2, padding=1, dtype=np.float64), sg.nn.LeakyReLU(0.2),
        sg.nn.Flatten(), sg.nn.Linear(4 * 4 * 4, 1, dtype=np.float64),
    )


def torch_gradient_penalty(critic, real, fake, alpha, norm_axes):
    """E (||grad D(x_hat)|| - 1)^2 in PyTorch, the norm over ``norm_axes``."""
    interpolated = (alpha * real + (1 - alpha) * fake).requires_grad_()
    (gradient,) = torch.autograd.grad(critic(interpolated).sum(), interpolated, create_graph=True)
    norms = gradient.pow(2).sum(dim=norm_axes).sqrt()
    return ((norms - 1) ** 2).mean()


def penalty_report(torch_model, model, real, fake, alpha, norm_axes):
    """Penalty values and their gradients with respect to every critic weight, both frameworks."""
    torch_model.zero_grad()
    model.zero_grad()
    theirs = torch_gradient_penalty(torch_model, torch.from_numpy(real), torch.from_numpy(fake),
                                     torch.from_numpy(alpha), norm_axes)
    theirs.backward()
    ours = sg.gan.penalties.gradient_penalty(model, sg.Tensor(real), sg.Tensor(fake), alpha=alpha)
    ours.backward()
    report = ParityReport()
    report.add("penalty", ours.item(), theirs.item())
    our_parameters = dict(model.named_parameters())
    for name, parameter in torch_model.named_parameters():
        # a weight the penalty does not reach (the last bias) has no gradient: count it as 0
        mine = our_parameters[name].grad
        mine = np.zeros(parameter.shape) if mine is None else mine.numpy()
        other = np.zeros(parameter.shape) if parameter.grad is None else parameter.grad.numpy()
        report.add(f"d penalty / d {name}", mine, other)
    return report


def penalty_matches_finite_differences(model, real, fake, alpha):
    """gradcheck of scratchgan's penalty as a function of the first conv weight."""
    weight = model[0].weight.detach().requires_grad_()

    def penalty_of(w):
        critic = lambda x: functional_call(model, {"0.weight": w}, x)  # noqa: E731
        return sg.gan.penalties.gradient_penalty(critic, sg.Tensor(real), sg.Tensor(fake), alpha=alpha)

    return sg.gradcheck(penalty_of, (weight,))


def main():
    rng = np.random.default_rng(0)
    real = rng.standard_normal((6, 1, 8, 8))
    fake = rng.standard_normal((6, 1, 8, 8))
    alpha = rng.uniform(size=(6, 1, 1, 1))
    torch_model, model = torch_critic(), scratchgan_critic()

    critic_report = compare_with_torch(torch_model, model, [real])  # also loads the weights
    print("1. the critic, outputs and first-order gradients:")
    print(critic_report, end="\n\n")

    correct = penalty_report(torch_model, model, real, fake, alpha, CORRECT_AXES)
    print("2a. the penalty, norm over (C, H, W) in PyTorch:")
    print(correct, end="\n\n")
    planted = penalty_report(torch_model, model, real, fake, alpha, PLANTED_BUG_AXES)
    print("2b. the penalty, norm over C only in PyTorch (the planted bug):")
    print(planted, end="\n\n")

    checked = penalty_matches_finite_differences(model, real, fake, alpha)
    print(f"3. scratchgan's penalty against finite differences in the conv weight: {checked}")

    assert critic_report.max_rel < 1e-10 and correct.max_rel < 1e-10, "the frameworks disagree"
    assert planted.max_rel > 1e-2, "the planted bug went unnoticed"
    return critic_report, correct, planted


if __name__ == "__main__":
    main()
