"""A JAX R1 penalty on a Flax-style parameter tree against scratchgan's r1, to second order, in one call."""

import jax
import jax.numpy as jnp
import numpy as np
import scratchgan as sg

rng = np.random.default_rng(0)
params = {"params": {"Dense_0": {"kernel": jnp.asarray(rng.standard_normal((2, 16))), "bias": jnp.zeros(16)},
                     "Dense_1": {"kernel": jnp.asarray(rng.standard_normal((16, 1))), "bias": jnp.zeros(1)}}}


def apply(params, x):  # a Flax-style MLP critic
    hidden = jnp.tanh(x @ params["params"]["Dense_0"]["kernel"] + params["params"]["Dense_0"]["bias"])
    return hidden @ params["params"]["Dense_1"]["kernel"] + params["params"]["Dense_1"]["bias"]


def their_r1(params, real):  # the code under test: R1 with gamma / 2 folded in, gamma = 10
    gradient = jax.grad(lambda x: apply(params, x).sum())(real)
    return 5.0 * jnp.mean(jnp.sum(gradient ** 2, axis=1))


def our_r1(critic, real):
    return sg.gan.penalties.get("r1")(critic, real)


def main():
    critic = sg.nn.Sequential(sg.nn.Linear(2, 16, dtype=np.float64), sg.nn.Tanh(),
                              sg.nn.Linear(16, 1, dtype=np.float64))
    flax_names = {"0.weight": ("params.Dense_0.kernel", sg.check.from_flax_kernel), "0.bias": "params.Dense_0.bias",
                  "2.weight": ("params.Dense_1.kernel", sg.check.from_flax_kernel), "2.bias": "params.Dense_1.bias"}
    report = sg.check.compare_functions(their_r1, our_r1, params, critic, {"real": rng.standard_normal((8, 2))},
                                        constants=("real",), parameter_map=flax_names, second_order=True)
    print(report)


if __name__ == "__main__":
    main()
