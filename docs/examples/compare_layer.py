"""A conv + batch norm + leaky ReLU block in PyTorch and in scratchgan, to second order, in one call."""

import numpy as np
import torch
import scratchgan as sg

torch.manual_seed(0)
torch_block = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.BatchNorm2d(4),
                                  torch.nn.LeakyReLU(0.2)).double()
block = sg.nn.Sequential(sg.nn.Conv2d(3, 4, 3, padding=1, dtype=np.float64),
                         sg.nn.BatchNorm2d(4, dtype=np.float64), sg.nn.LeakyReLU(0.2))

def main():
    x = np.random.default_rng(0).standard_normal((5, 3, 6, 6))
    report = sg.check.compare_functions(lambda m, x: (m(x) ** 2).mean(), lambda m, x: (m(x) ** 2).mean(),
                                        torch_block, block, [x], second_order=True)
    print(report)


if __name__ == "__main__":
    main()
