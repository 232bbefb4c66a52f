"""PyTorch parity of the new families' losses: BiGAN's (and ALI's) generator-and-encoder loss
through D on pairs, the adversarial autoencoder's reconstruction and regularisation losses,
and historical averaging, each with the same weights in PyTorch (float64)."""

import numpy
import pytest

import scratchgan as sg
from scratchgan.gan import tricks
from scratchgan.gan.trainer import TrainConfig, Trainer

from parity import assert_parity

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity


def to_torch(module):
    """The torch twin of a scratchgan Sequential (or single layer), with the same weights."""
    nn = torch.nn
    name = type(module).__name__
    if name == "Sequential":
        return nn.Sequential(*[to_torch(child) for child in module])
    if name == "Linear":
        twin = nn.Linear(module.weight.shape[1], module.weight.shape[0], bias=module.bias is not None)
    elif name == "Conv2d":
        twin = nn.Conv2d(module.in_channels, module.out_channels, module.kernel_size, module.stride, module.padding,
                         bias=module.bias is not None)
    elif name == "ConvTranspose2d":
        twin = nn.ConvTranspose2d(module.in_channels, module.out_channels, module.kernel_size, module.stride,
                                  module.padding, bias=module.bias is not None)
    elif name in ("BatchNorm1d", "BatchNorm2d"):
        twin = getattr(nn, name)(module.num_features, eps=module.eps, momentum=module.momentum)
    elif name == "LeakyReLU":
        return nn.LeakyReLU(module.negative_slope)
    elif name in ("ReLU", "Tanh", "Flatten"):
        return getattr(nn, name)()
    elif name == "Unflatten":
        return nn.Unflatten(module.dim, module.unflattened_size)
    else:
        raise TypeError(f"no torch twin for {name}")
    twin = twin.double()  # before loading: load_state_dict copies into the existing dtype
    twin.load_state_dict({k: torch.from_numpy(numpy.array(v)) for k, v in module.state_dict().items()})
    return twin


def all_gradients(module):
    """Every parameter's gradient, flattened into one array: compared as one, so the exact
    zeros (a bias before batch norm) are held to the scale of the module's gradients."""
    grads = [p.grad for p in module.parameters()]
    return numpy.concatenate([numpy.ravel(g.numpy() if isinstance(g, sg.Tensor) else g.detach().numpy())
                              for g in grads])


def tiny(model, **overrides):
    values = dict(data="digits8x8", model=model, steps=2, batch_size=8, width=4, latent_dim=3, dtype="float64")
    values.update({"fc_hidden": 6} if model == "bigan" else {"hidden": 12})
    values.update(overrides)
    return TrainConfig(**values)


def test_bigan_generator_and_encoder_loss_and_gradients_match_pytorch():
    trainer = Trainer(tiny("bigan"))
    g, e, d = trainer.generator, trainer.players["E"], trainer.discriminator
    tg, te = to_torch(g), to_torch(e)
    tx, tz, tj = to_torch(d.x_net), to_torch(d.z_net), to_torch(d.joint)
    rng = numpy.random.default_rng(0)
    x, z = rng.uniform(-1, 1, (8, 1, 8, 8)), rng.standard_normal((8, 3))

    fake_out = d(g(sg.Tensor(z)), sg.Tensor(z))
    real_out = d(sg.Tensor(x), e(sg.Tensor(x)))
    loss = trainer.game.generator_adversarial_loss(fake_out, real_out)
    loss.backward()

    def joint(images, codes):
        return tj(torch.cat([tx(images), tz(codes)], dim=1))

    t_x, t_z = torch.from_numpy(x), torch.from_numpy(z)
    t_fake, t_real = joint(tg(t_z), t_z), joint(t_x, te(t_x))
    # the non-saturating loss with the pairs swapped: G and E want D(G(z), z) -> 1, D(x, E(x)) -> 0
    t_loss = (torch.nn.functional.softplus(-t_fake).mean() + torch.nn.functional.softplus(t_real).mean())
    t_loss.backward()
    assert_parity(loss, t_loss, numpy.float64, "BiGAN G/E loss")
    for label, ours, theirs in (("E", e, te), ("G", g, tg)):
        assert_parity(all_gradients(ours), all_gradients(theirs), numpy.float64, f"{label}'s gradients")


def test_aae_losses_match_pytorch():
    trainer = Trainer(tiny("aae", latent_dim=2))
    e, g, d = trainer.players["E"], trainer.generator, trainer.discriminator
    te, tg, td = to_torch(e), to_torch(g), to_torch(d)
    rng = numpy.random.default_rng(1)
    x, prior = rng.uniform(-1, 1, (8, 1, 8, 8)), rng.standard_normal((8, 2))
    t_x = torch.from_numpy(x)

    reconstruction = ((g(e(sg.Tensor(x))) - sg.Tensor(x)) ** 2).mean()
    reconstruction.backward()
    t_reconstruction = torch.nn.functional.mse_loss(tg(te(t_x)), t_x)
    t_reconstruction.backward()
    assert_parity(reconstruction, t_reconstruction, numpy.float64, "reconstruction")
    assert_parity(all_gradients(e), all_gradients(te), numpy.float64, "E's gradients")

    codes = e(sg.Tensor(x)).detach()
    d_loss = trainer.loss.discriminator(d(sg.Tensor(prior)), d(codes))
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    t_codes = te(t_x).detach()
    t_real, t_fake = td(torch.from_numpy(prior)), td(t_codes)
    t_d_loss = bce(t_real, torch.ones_like(t_real)) + bce(t_fake, torch.zeros_like(t_fake))
    assert_parity(d_loss, t_d_loss, numpy.float64, "D's loss on codes")


def test_historical_averaging_matches_pytorch():
    rng = numpy.random.default_rng(2)
    p = sg.nn.Parameter(sg.Tensor(rng.standard_normal((4, 3))))
    history = tricks.HistoricalAverage([p])
    steps = [rng.standard_normal((4, 3)) for _ in range(3)]
    t_p = torch.tensor(p.numpy().copy(), requires_grad=True)
    past = [t_p.detach().clone()]
    for step in steps:
        p.data = p.data + step
        history.update()
        with torch.no_grad():
            t_p += torch.from_numpy(step)
        past.append(t_p.detach().clone())
    p.data = p.data + 0.5
    with torch.no_grad():
        t_p += 0.5
    value = history.penalty()
    value.backward()
    t_value = ((t_p - torch.stack(past).mean(dim=0)) ** 2).sum()
    t_value.backward()
    assert_parity(value, t_value, numpy.float64, "historical average")
    assert_parity(p.grad, t_p.grad, numpy.float64, "its gradient")


def test_ebgan_losses_with_the_pulling_away_term_match_pytorch():
    trainer = Trainer(tiny("ebgan", loss="energy_based", loss_params={"margin": 0.5}, pt_weight=0.1, code_dim=5))
    g, d = trainer.generator, trainer.discriminator
    tg, t_enc, t_dec = to_torch(g), to_torch(d.encoder), to_torch(d.decoder)
    rng = numpy.random.default_rng(3)
    x, z = rng.uniform(-1, 1, (8, 1, 8, 8)), rng.standard_normal((8, 3))

    def t_energy_and_codes(images):
        codes = t_enc(images)
        return ((t_dec(codes) - images) ** 2).flatten(1).mean(dim=1, keepdim=True), codes

    fake = g(sg.Tensor(z))
    d_loss = trainer.loss.discriminator(d(sg.Tensor(x)), d(fake.detach()))
    d_loss.backward()
    t_x, t_fake = torch.from_numpy(x), tg(torch.from_numpy(z))
    t_d_loss = (t_energy_and_codes(t_x)[0].mean()
                + torch.relu(0.5 - t_energy_and_codes(t_fake.detach())[0]).mean())
    t_d_loss.backward()
    assert_parity(d_loss, t_d_loss, numpy.float64, "EBGAN D's loss (energy and margin)")
    assert_parity(all_gradients(d), numpy.concatenate([all_gradients(t_enc), all_gradients(t_dec)]),
                  numpy.float64, "D's gradients")

    energy, codes = trainer.game.d_outputs(fake, None, with_aux=True)
    logs = {}
    g_loss = trainer.loss.generator(energy) + trainer.game.generator_extra(fake, codes, None, logs)
    g_loss.backward()
    t_energy, t_codes = t_energy_and_codes(t_fake)
    unit = torch.nn.functional.normalize(t_codes, dim=1)
    cosines = unit @ unit.T
    t_pt = (cosines ** 2).sum() - (torch.diagonal(cosines) ** 2).sum()
    t_g_loss = t_energy.mean() + 0.1 * t_pt / (8 * 7)
    t_g_loss.backward()
    assert_parity(g_loss, t_g_loss, numpy.float64, "EBGAN G's loss with the pulling-away term")
    assert logs["pulling_away"] == pytest.approx((t_pt / 56).item(), rel=1e-10)
    assert_parity(all_gradients(g), all_gradients(tg), numpy.float64, "G's gradients")


def test_the_loss_unrolled_through_ds_adam_matches_pytorch():
    """G's loss after 3 unrolled steps of D's own Adam (from a state one real step old), and
    its gradients in G's parameters, against the same unroll written with torch.func."""
    sg.manual_seed(11)
    rng = numpy.random.default_rng(4)
    g = sg.nn.Sequential(sg.nn.Linear(3, 5, dtype=numpy.float64), sg.nn.Tanh(), sg.nn.Linear(5, 2, dtype=numpy.float64))
    d = sg.nn.Sequential(sg.nn.Linear(2, 6, dtype=numpy.float64), sg.nn.Tanh(), sg.nn.Linear(6, 1, dtype=numpy.float64))
    tg, td = to_torch(g), to_torch(d)
    z, real, first_real, first_fake = (rng.standard_normal(shape) for shape in ((7, 3), (6, 2), (6, 2), (7, 2)))
    lr, betas, eps, steps = 0.05, (0.5, 0.999), 1e-8, 3
    loss = sg.gan.losses.get("nonsaturating")
    optimizer = sg.optim.Adam(d.parameters(), lr=lr, betas=betas, eps=eps)
    loss.discriminator(d(sg.Tensor(first_real)), d(sg.Tensor(first_fake))).backward()
    optimizer.step()
    optimizer.zero_grad()
    t_optimizer = torch.optim.Adam(td.parameters(), lr=lr, betas=betas, eps=eps)
    softplus = torch.nn.functional.softplus
    (softplus(-td(torch.tensor(first_real))).mean() + softplus(td(torch.tensor(first_fake))).mean()).backward()
    t_optimizer.step()
    t_optimizer.zero_grad()

    value = tricks.unrolled_generator_loss(loss, d, g(sg.Tensor(z)), sg.Tensor(real), steps, 0.0, optimizer)
    value.backward()

    fake = tg(torch.tensor(z))
    names = [name for name, _ in td.named_parameters()]
    current = {name: p for name, p in td.named_parameters()}
    moments = {name: (t_optimizer.state[p]["exp_avg"], t_optimizer.state[p]["exp_avg_sq"],
                      int(t_optimizer.state[p]["step"])) for name, p in td.named_parameters()}
    for _ in range(steps):
        d_loss = (softplus(-torch.func.functional_call(td, current, (torch.tensor(real),))).mean()
                  + softplus(torch.func.functional_call(td, current, (fake,))).mean())
        grads = torch.autograd.grad(d_loss, [current[n] for n in names], create_graph=True)
        for name, grad in zip(names, grads):
            m, v, t = moments[name]
            t += 1
            m = betas[0] * m + (1 - betas[0]) * grad
            v = betas[1] * v + (1 - betas[1]) * grad * grad
            denominator = torch.sqrt(v) / (1 - betas[1] ** t) ** 0.5 + eps
            current[name] = current[name] - lr / (1 - betas[0] ** t) * m / denominator
            moments[name] = (m, v, t)
    t_value = softplus(-torch.func.functional_call(td, current, (fake,))).mean()
    t_value.backward()
    assert_parity(value, t_value, numpy.float64, "G's loss through 3 unrolled Adam steps")
    assert_parity(all_gradients(g), all_gradients(tg), numpy.float64, "G's gradients through the unrolled Adam")
