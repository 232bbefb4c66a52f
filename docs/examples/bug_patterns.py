"""Five bugs found in public PyTorch GAN code, each reproduced by a fixture and caught by one
``compare_functions`` call; the correct form of each agrees with scratchgan to 1e-10.

Run from the repository root: ``python docs/examples/bug_patterns.py``. Each fixture is a
user's function with the bug, beside the correct one; the scratchgan side is the library's
own loss or penalty. The script prints the report of each buggy form and asserts that the
correct form passes ``assert_close(1e-10)`` and the buggy one fails it.
"""

import numpy as np
import torch
import torch.nn.functional as F

import scratchgan as sg

LAMBDA = 10.0


def critics():
    """A small conv critic in each framework (the weights are copied by compare_functions)."""
    torch.manual_seed(0)
    theirs = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3, stride=2, padding=1), torch.nn.Tanh(),
                                 torch.nn.Flatten(), torch.nn.Linear(12, 1)).double()
    ours = sg.nn.Sequential(sg.nn.Conv2d(2, 3, 3, stride=2, padding=1, dtype=np.float64), sg.nn.Tanh(),
                            sg.nn.Flatten(), sg.nn.Linear(12, 1, dtype=np.float64))
    return theirs, ours


def linear_critics():
    torch.manual_seed(0)
    return torch.nn.Linear(3, 1).double(), sg.nn.Linear(3, 1, dtype=np.float64)


rng = np.random.default_rng(0)
images = {"real": rng.standard_normal((3, 2, 4, 4)), "fake": rng.standard_normal((3, 2, 4, 4))}
points = {"fake": rng.standard_normal((4, 3)), "real": rng.standard_normal((4, 3))}


# -- 1 and 2: WGAN-GP with the gradient norm over the wrong axes -------------------------------
def wgan_gp(norm):
    def penalty(critic, real, fake):
        alpha = torch.rand(real.shape[0], 1, 1, 1, dtype=real.dtype)
        interpolated = (alpha * real + (1 - alpha) * fake).requires_grad_()
        (gradient,) = torch.autograd.grad(critic(interpolated).sum(), interpolated, create_graph=True)
        return ((norm(gradient) - 1) ** 2).mean()
    return penalty


def our_wgan_gp(critic, real, fake, draws):
    return sg.gan.penalties.gradient_penalty(critic, real, fake, alpha=draws[0])


def check_wgan_gp(norm):
    return sg.check.compare_functions(wgan_gp(norm), our_wgan_gp, *critics(), images,
                                      constants=("real", "fake"), capture_random=True)


# -- 3: a relativistic generator loss overwritten by the plain one ----------------------------
def relativistic_generator(overwritten):
    def loss(critic, fake, real):
        fake_out, real_out = critic(fake), critic(real)
        g_loss = (F.binary_cross_entropy_with_logits(fake_out - real_out.mean(), torch.ones_like(fake_out))
                  + F.binary_cross_entropy_with_logits(real_out - fake_out.mean(), torch.zeros_like(real_out)))
        if overwritten:
            g_loss = F.binary_cross_entropy_with_logits(fake_out, torch.ones_like(fake_out))
        return g_loss
    return loss


def our_relativistic_generator(critic, fake, real):
    return sg.gan.losses.get("relativistic_average").generator(critic(fake), real_out=critic(real))


def check_relativistic(overwritten):
    return sg.check.compare_functions(relativistic_generator(overwritten), our_relativistic_generator,
                                      *linear_critics(), points)


# -- 4: BCE on probabilities where the sigmoid saturates -----------------------------------------
def discriminator_loss(on_probabilities):
    def loss(critic, real, fake):
        real_out, fake_out = critic(real), critic(fake)
        if on_probabilities:
            return (F.binary_cross_entropy(torch.sigmoid(real_out), torch.ones_like(real_out))
                    + F.binary_cross_entropy(torch.sigmoid(fake_out), torch.zeros_like(fake_out)))
        return (F.binary_cross_entropy_with_logits(real_out, torch.ones_like(real_out))
                + F.binary_cross_entropy_with_logits(fake_out, torch.zeros_like(fake_out)))
    return loss


def our_discriminator_loss(critic, real, fake):
    return sg.gan.losses.get("minimax").discriminator(critic(real), critic(fake))


def saturated_batch():
    """Fakes the critic scores at logit 90 (a confident D): sigmoid(90) is 1.0 in float64."""
    their_critic, _ = linear_critics()
    weight, bias = their_critic.weight.detach().numpy()[0], their_critic.bias.item()
    fake = 0.1 * rng.standard_normal((4, 3))
    fake += np.outer(90 - bias - fake @ weight, weight) / (weight @ weight)
    return {"real": rng.standard_normal((4, 3)), "fake": fake}


def check_bce(on_probabilities, batch):
    return sg.check.compare_functions(discriminator_loss(on_probabilities), our_discriminator_loss,
                                      *linear_critics(), batch)


# -- 5: DRAGAN with a one-sided per-element perturbation and lambda inside ------------------------
def dragan(lambda_inside):
    def penalty(critic, real):
        perturbed = (real + 0.5 * real.std() * torch.rand_like(real)).detach().requires_grad_()
        (gradient,) = torch.autograd.grad(critic(perturbed).sum(), perturbed, create_graph=True)
        value = ((gradient.flatten(1).norm(2, dim=1) - 1) ** 2).mean()
        return LAMBDA * value if lambda_inside else value
    return penalty


def our_dragan(critic, real, draws):  # the same one-sided draw; torch's std is the unbiased one
    return sg.gan.penalties.dragan_penalty(critic, real, delta=0.5 * real.numpy().std(ddof=1) * draws[0])


def check_dragan(lambda_inside):
    return sg.check.compare_functions(dragan(lambda_inside), our_dragan, *critics(), {"real": images["real"]},
                                      capture_random=True, second_order=True)


def caught(title, correct, buggy):
    correct.assert_close(1e-10)
    try:
        buggy.assert_close(1e-10)
    except AssertionError:
        print(f"{title}\n{buggy}\n")
        return
    raise AssertionError(f"{title}: the bug was not caught")


def main():
    per_sample = lambda g: g.flatten(1).norm(2, dim=1)  # noqa: E731
    caught("1. WGAN-GP, norm over the channel axis only: norm(2, dim=1)",
           check_wgan_gp(per_sample), check_wgan_gp(lambda g: g.norm(2, dim=1)))
    caught("2. WGAN-GP, one norm over the whole batch: norm(2)",
           check_wgan_gp(per_sample), check_wgan_gp(lambda g: g.norm(2)))
    caught("3. relativistic generator loss overwritten by the plain one",
           check_relativistic(False), check_relativistic(True))
    batch = saturated_batch()
    caught("4. BCE on a sigmoid saturated at logit 90", check_bce(False, batch), check_bce(True, batch))
    caught("5. DRAGAN, one-sided per-element perturbation, lambda inside",
           check_dragan(False), check_dragan(True))


if __name__ == "__main__":
    main()
