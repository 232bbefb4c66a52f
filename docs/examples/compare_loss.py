"""A user's hinge discriminator loss against scratchgan's, to second order, in one call."""

import numpy as np
import torch
import scratchgan as sg

torch.manual_seed(0)
torch_critic = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1)).double()
critic = sg.nn.Sequential(sg.nn.Linear(2, 16, dtype=np.float64), sg.nn.Tanh(),
                          sg.nn.Linear(16, 1, dtype=np.float64))


def their_hinge(critic, real, fake):  # the code under test
    return torch.relu(1 - critic(real)).mean() + torch.relu(1 - critic(fake)).mean()


def our_hinge(critic, real, fake):
    return sg.gan.losses.get("hinge").discriminator(critic(real), critic(fake))


def main():
    rng = np.random.default_rng(0)
    batch = {"real": rng.standard_normal((8, 2)), "fake": rng.standard_normal((8, 2))}
    print(sg.check.compare_functions(their_hinge, our_hinge, torch_critic, critic, batch, second_order=True))


if __name__ == "__main__":
    main()
