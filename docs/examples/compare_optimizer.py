"""A hand-written Adam step (a port from TensorFlow) against scratchgan's Adam: five steps, one call."""

import numpy as np
import torch
import scratchgan as sg

torch.manual_seed(0)
torch_generator = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2)).double()
generator = sg.nn.Sequential(sg.nn.Linear(4, 8, dtype=np.float64), sg.nn.Tanh(),
                             sg.nn.Linear(8, 2, dtype=np.float64))


def their_adam(model, z, steps=5, lr=1e-3, betas=(0.5, 0.999), eps=1e-8):
    """Adam as a port from TensorFlow writes it: the bias corrections folded into the step size."""
    state = [(torch.zeros_like(p), torch.zeros_like(p)) for p in model.parameters()]
    for t in range(1, steps + 1):
        model.zero_grad()
        (model(z) ** 2).mean().backward()
        with torch.no_grad():
            step = lr * (1 - betas[1] ** t) ** 0.5 / (1 - betas[0] ** t)
            for p, (m, v) in zip(model.parameters(), state):
                m.mul_(betas[0]).add_((1 - betas[0]) * p.grad)
                v.mul_(betas[1]).add_((1 - betas[1]) * p.grad ** 2)
                p -= step * m / (v.sqrt() + eps)
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def our_adam(model, z, steps=5):
    optimizer = sg.optim.Adam(model.parameters(), lr=1e-3, betas=(0.5, 0.999), eps=1e-8)
    for _ in range(steps):
        optimizer.zero_grad()
        (model(z) ** 2).mean().backward()
        optimizer.step()
    return sg.concatenate([p.detach().reshape(-1) for p in model.parameters()])


def main():
    z = np.random.default_rng(0).standard_normal((16, 4))
    print(sg.check.compare_functions(their_adam, our_adam, torch_generator, generator, {"z": z},
                                     constants=("z",)))


if __name__ == "__main__":
    main()
