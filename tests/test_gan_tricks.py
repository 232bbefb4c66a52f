"""GAN tricks: each one's value on a hand-computed case, its gradients, and its errors."""

import numpy
import pytest

import scratchgan as sg
from scratchgan.gan import losses, tricks
from scratchgan.nn.utils import functional_call


def softplus(v):
    return numpy.logaddexp(0.0, v)


def sigmoid(v):
    return 1.0 / (1.0 + numpy.exp(-v))


def tanh_discriminator(in_dim=2, hidden=3):
    """A smooth (kink-free) float64 MLP: finite differences through it are exact to ~1e-9."""
    return sg.nn.Sequential(sg.nn.Linear(in_dim, hidden, dtype=numpy.float64), sg.nn.Tanh(),
                            sg.nn.Linear(hidden, 1, dtype=numpy.float64))


def parameter_arrays(module):
    return {name: p.numpy().copy() for name, p in module.named_parameters()}


# -- discriminator_targets ------------------------------------------------------------------
def test_label_smoothing_sets_real_targets_to_the_smoothing_value():
    targets = tricks.discriminator_targets(5, real=True, smoothing=0.9)
    assert targets.shape == (5, 1)
    numpy.testing.assert_array_equal(targets.numpy(), numpy.full((5, 1), 0.9, dtype=numpy.float32))


def test_label_smoothing_leaves_fake_targets_at_zero():
    targets = tricks.discriminator_targets(5, real=False, smoothing=0.9)
    numpy.testing.assert_array_equal(targets.numpy(), numpy.zeros((5, 1)))


def test_targets_take_the_dtype_of_like():
    like = sg.Tensor(numpy.zeros((3, 1)))
    assert tricks.discriminator_targets(3, True, like=like).dtype == numpy.float64
    assert tricks.discriminator_targets(3, True).dtype == numpy.float32


@pytest.mark.parametrize("real", [True, False])
def test_label_flips_happen_with_the_given_probability(real):
    sg.manual_seed(0)
    n, p = 20000, 0.2
    targets = tricks.discriminator_targets(n, real=real, smoothing=0.9, flip_probability=p).numpy()
    own, other = (numpy.float32(0.9), 0.0) if real else (0.0, numpy.float32(0.9))
    flipped = targets == other
    assert numpy.all(flipped | (targets == own))
    assert abs(flipped.mean() - p) < 4 * numpy.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize("kwargs, match", [
    ({"flip_probability": 0.5}, "flip_probability"),
    ({"flip_probability": -0.1}, "flip_probability"),
    ({"smoothing": 0.5}, "smoothing"),
    ({"smoothing": 1.1}, "smoothing"),
])
def test_discriminator_targets_reject_out_of_range_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tricks.discriminator_targets(4, True, **kwargs)


def test_loss_with_targets_is_the_cross_entropy_with_targets_09_and_0(rng):
    real_logits, fake_logits = rng.standard_normal((6, 1)), rng.standard_normal((6, 1))
    expected = (numpy.mean(-0.9 * numpy.log(sigmoid(real_logits)) - 0.1 * numpy.log(1 - sigmoid(real_logits)))
                + numpy.mean(-numpy.log(1 - sigmoid(fake_logits))))
    like = sg.Tensor(real_logits)
    value = tricks.discriminator_loss_with_targets(
        sg.Tensor(real_logits), sg.Tensor(fake_logits),
        tricks.discriminator_targets(6, True, 0.9, like=like), tricks.discriminator_targets(6, False, 0.9, like=like))
    assert value.dtype == numpy.float64
    assert value.item() == pytest.approx(expected, rel=1e-12)


def test_loss_with_targets_gradients_match_finite_differences(rng):
    real_targets = sg.Tensor(numpy.full((5, 1), 0.9))
    fake_targets = sg.Tensor(numpy.zeros((5, 1)))
    sg.gradcheck(lambda r, f: tricks.discriminator_loss_with_targets(r, f, real_targets, fake_targets),
                 (sg.Tensor(rng.standard_normal((5, 1)), requires_grad=True),
                  sg.Tensor(rng.standard_normal((5, 1)), requires_grad=True)))


# -- ReplayPool -------------------------------------------------------------------------------
def test_replay_first_query_returns_the_fresh_batch_and_stores_it(rng):
    pool = tricks.ReplayPool(capacity=8, mix=1.0)
    fresh = rng.random((4, 2)).astype(numpy.float32)
    out = pool.query(sg.Tensor(fresh))
    assert out.dtype == numpy.float32
    numpy.testing.assert_array_equal(out.numpy(), fresh)
    numpy.testing.assert_array_equal(pool.samples, fresh)


def test_replay_with_mix_one_draws_every_row_from_the_pool(rng):
    sg.manual_seed(0)
    pool = tricks.ReplayPool(capacity=8, mix=1.0)
    first = rng.random((4, 2))
    pool.query(sg.Tensor(first))
    out = pool.query(sg.Tensor(10.0 + rng.random((4, 2)))).numpy()
    for row in out:
        assert any(numpy.array_equal(row, stored) for stored in first)


def test_replay_with_mix_zero_returns_the_fresh_batch(rng):
    sg.manual_seed(0)
    pool = tricks.ReplayPool(capacity=8, mix=0.0)
    pool.query(sg.Tensor(rng.random((4, 2))))
    second = 10.0 + rng.random((4, 2))
    numpy.testing.assert_array_equal(pool.query(sg.Tensor(second)).numpy(), second)


def test_replay_rows_come_from_the_pool_with_probability_mix(rng):
    sg.manual_seed(0)
    n, mix = 4000, 0.3
    pool = tricks.ReplayPool(capacity=n, mix=mix)
    pool.query(sg.Tensor(rng.random((n, 1))))  # pooled values in [0, 1)
    out = pool.query(sg.Tensor(10.0 + rng.random((n, 1)))).numpy()  # fresh values in [10, 11)
    from_pool = (out < 5.0).mean()
    assert abs(from_pool - mix) < 4 * numpy.sqrt(mix * (1 - mix) / n)


def test_replay_pool_never_exceeds_its_capacity(rng):
    sg.manual_seed(0)
    pool = tricks.ReplayPool(capacity=5, mix=0.5)
    seen = []
    for _ in range(3):
        batch = rng.random((4, 2))
        seen.extend(batch)
        pool.query(sg.Tensor(batch))
        assert len(pool.samples) <= 5
    assert len(pool.samples) == 5
    for stored in pool.samples:
        assert any(numpy.array_equal(stored, row) for row in seen)


def test_replay_first_batch_larger_than_capacity_is_truncated(rng):
    pool = tricks.ReplayPool(capacity=3, mix=0.5)
    pool.query(sg.Tensor(rng.random((10, 2))))
    assert pool.samples.shape == (3, 2)


def test_replay_state_arrays_round_trip(rng):
    sg.manual_seed(0)
    pool = tricks.ReplayPool(capacity=6, mix=0.5)
    for _ in range(3):
        pool.query(sg.Tensor(rng.random((4, 2))))
    restored = tricks.ReplayPool(capacity=6, mix=0.5)
    restored.load_state_arrays(pool.state_arrays())
    numpy.testing.assert_array_equal(restored.samples, pool.samples)
    batch = sg.Tensor(rng.random((4, 2)))
    sg.manual_seed(1)
    expected = pool.query(batch).numpy()
    sg.manual_seed(1)
    numpy.testing.assert_array_equal(restored.query(batch).numpy(), expected)
    numpy.testing.assert_array_equal(restored.samples, pool.samples)


def test_replay_state_arrays_are_copies(rng):
    pool = tricks.ReplayPool(capacity=4)
    assert pool.state_arrays() == {}
    pool.query(sg.Tensor(rng.random((4, 2))))
    arrays = pool.state_arrays()
    arrays["samples"][:] = -1.0
    assert numpy.all(pool.samples >= 0.0)


@pytest.mark.parametrize("capacity, mix", [(0, 0.5), (4, -0.1), (4, 1.5)])
def test_replay_pool_rejects_bad_settings(capacity, mix):
    with pytest.raises(ValueError, match="ReplayPool"):
        tricks.ReplayPool(capacity, mix)


# -- feature matching -------------------------------------------------------------------------
def test_feature_matching_is_the_squared_distance_of_mean_features(rng):
    discriminator = tanh_discriminator(3, 5)
    real, fake = rng.standard_normal((6, 3)), rng.standard_normal((4, 3))
    weight, bias = discriminator[0].weight.numpy(), discriminator[0].bias.numpy()
    real_mean = numpy.tanh(real @ weight.T + bias).mean(axis=0)
    fake_mean = numpy.tanh(fake @ weight.T + bias).mean(axis=0)
    expected = ((real_mean - fake_mean) ** 2).sum()
    value = tricks.feature_matching_loss(tricks.sequential_features(discriminator, sg.Tensor(real), 2),
                                         tricks.sequential_features(discriminator, sg.Tensor(fake), 2))
    assert value.item() == pytest.approx(expected, rel=1e-12)


def test_sequential_features_is_the_output_of_the_first_layers(rng):
    discriminator = tanh_discriminator(3, 5)
    x = rng.standard_normal((4, 3))
    features = tricks.sequential_features(discriminator, sg.Tensor(x), 1)
    weight, bias = discriminator[0].weight.numpy(), discriminator[0].bias.numpy()
    numpy.testing.assert_allclose(features.numpy(), x @ weight.T + bias, rtol=1e-12)


def test_feature_matching_treats_real_features_as_constants(rng):
    discriminator = tanh_discriminator(3, 5)
    real = sg.Tensor(rng.standard_normal((6, 3)), requires_grad=True)
    fake = sg.Tensor(rng.standard_normal((4, 3)), requires_grad=True)
    loss = tricks.feature_matching_loss(tricks.sequential_features(discriminator, real, 2),
                                        tricks.sequential_features(discriminator, fake, 2))
    loss.backward()
    assert real.grad is None or not numpy.any(real.grad.numpy())
    assert fake.grad is not None and numpy.any(fake.grad.numpy())


def test_feature_matching_gradient_wrt_fake_matches_finite_differences(rng):
    discriminator = tanh_discriminator(3, 5)
    real = sg.Tensor(rng.standard_normal((6, 3)))
    sg.gradcheck(lambda fake: tricks.feature_matching_loss(
        tricks.sequential_features(discriminator, real, 2), tricks.sequential_features(discriminator, fake, 2)),
        sg.Tensor(rng.standard_normal((4, 3)), requires_grad=True))


@pytest.mark.parametrize("layer", [0, 3, -1])
def test_sequential_features_rejects_a_layer_out_of_range(layer):
    with pytest.raises(ValueError, match=r"layer must be in \[1, 2\]"):
        tricks.sequential_features(tanh_discriminator(), sg.Tensor(numpy.zeros((2, 2))), layer)


def test_sequential_features_needs_a_sequential():
    with pytest.raises(TypeError, match="Sequential"):
        tricks.sequential_features(sg.nn.Linear(2, 1), sg.Tensor(numpy.zeros((2, 2))), 1)


# -- instance noise ---------------------------------------------------------------------------
def test_instance_noise_std_anneals_linearly_to_zero():
    noise = tricks.InstanceNoise(std=0.4, anneal_steps=100)
    assert [noise.std_at(s) for s in (0, 25, 50, 100, 250)] == pytest.approx([0.4, 0.3, 0.2, 0.0, 0.0])


def test_instance_noise_adds_gaussian_noise_of_the_scheduled_std():
    sg.manual_seed(0)
    noise = tricks.InstanceNoise(std=0.4, anneal_steps=100)
    x = sg.Tensor(numpy.full((20000, 2), 3.0, dtype=numpy.float32))
    added = noise.apply(x, 25).numpy() - 3.0
    assert noise.apply(x, 25).dtype == numpy.float32
    assert abs(added.mean()) < 0.01
    assert added.std() == pytest.approx(0.3, rel=0.02)


def test_instance_noise_is_the_identity_after_annealing():
    noise = tricks.InstanceNoise(std=0.4, anneal_steps=100)
    x = sg.Tensor(numpy.ones((3, 2)))
    assert noise.apply(x, 100) is x
    assert noise.apply(x, 1000) is x


@pytest.mark.parametrize("std, steps", [(-0.1, 10), (0.1, 0)])
def test_instance_noise_rejects_bad_settings(std, steps):
    with pytest.raises(ValueError, match="InstanceNoise"):
        tricks.InstanceNoise(std, steps)


# -- MinibatchStdDev --------------------------------------------------------------------------
def minibatch_std_reference(x, eps=1e-8):
    statistic = numpy.sqrt(x.var(axis=0) + eps).mean()  # biased variance, as Karras et al.
    extra = numpy.full((x.shape[0], 1) + x.shape[2:], statistic)
    return numpy.concatenate([x, extra], axis=1)


@pytest.mark.parametrize("shape", [(5, 3), (4, 2, 3, 3)])
def test_minibatch_std_matches_numpy(rng, shape):
    x = rng.standard_normal(shape)
    out = tricks.MinibatchStdDev()(sg.Tensor(x))
    expected = minibatch_std_reference(x)
    assert out.shape == expected.shape
    assert out.dtype == numpy.float64
    numpy.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)


@pytest.mark.parametrize("shape, out_shape", [((5, 3), (5, 4)), ((4, 2, 3, 3), (4, 3, 3, 3))])
def test_minibatch_std_adds_one_feature_channel(shape, out_shape):
    out = tricks.MinibatchStdDev()(sg.Tensor(numpy.ones(shape, dtype=numpy.float32)))
    assert out.shape == out_shape
    assert out.dtype == numpy.float32


@pytest.mark.parametrize("shape", [(4, 3), (3, 2, 2, 2)])
def test_minibatch_std_gradient_matches_finite_differences(rng, shape):
    sg.gradcheck(tricks.MinibatchStdDev(), sg.Tensor(rng.standard_normal(shape), requires_grad=True))


@pytest.mark.parametrize("shape", [(4, 3), (3, 2, 2, 2)])
def test_minibatch_std_second_derivatives_match_finite_differences(rng, shape):
    sg.gradgradcheck(tricks.MinibatchStdDev(), sg.Tensor(rng.standard_normal(shape), requires_grad=True))


def test_minibatch_std_needs_two_samples():
    with pytest.raises(ValueError, match="at least 2"):
        tricks.MinibatchStdDev()(sg.Tensor(numpy.ones((1, 3))))


# -- MinibatchDiscrimination -----------------------------------------------------------------
def minibatch_discrimination_reference(x, t, num_kernels, kernel_dim):
    m = (x @ t).reshape(len(x), num_kernels, kernel_dim)
    closeness = numpy.zeros((len(x), num_kernels))
    for i in range(len(x)):
        for b in range(num_kernels):
            for j in range(len(x)):
                if j != i:
                    closeness[i, b] += numpy.exp(-numpy.abs(m[i, b] - m[j, b]).sum())
    return numpy.concatenate([x, closeness], axis=1)


def minibatch_layer(rng, in_features=3, num_kernels=2, kernel_dim=2):
    layer = tricks.MinibatchDiscrimination(in_features, num_kernels, kernel_dim, dtype=numpy.float64)
    layer.T.data = rng.standard_normal(layer.T.shape) * 0.5
    return layer


def distinct_rows(rng, layer, n=4):
    """Inputs whose projections M_i,b differ from every M_j,b elementwise: away from the |.| kink."""
    x = rng.standard_normal((n, layer.in_features))
    m = x @ layer.T.numpy()
    gaps = numpy.abs(m[:, None, :] - m[None, :, :])[~numpy.eye(n, dtype=bool)]
    assert gaps.min() > 1e-3
    return x


def test_minibatch_discrimination_matches_a_direct_loop(rng):
    layer = minibatch_layer(rng, in_features=3, num_kernels=4, kernel_dim=2)
    x = rng.standard_normal((5, 3))
    out = layer(sg.Tensor(x))
    assert out.shape == (5, 3 + 4)
    numpy.testing.assert_allclose(out.numpy(), minibatch_discrimination_reference(x, layer.T.numpy(), 4, 2),
                                  rtol=1e-12)


def test_minibatch_discrimination_gradient_wrt_input_matches_finite_differences(rng):
    layer = minibatch_layer(rng)
    sg.gradcheck(layer, sg.Tensor(distinct_rows(rng, layer), requires_grad=True))


def test_minibatch_discrimination_gradient_wrt_T_matches_finite_differences(rng):
    layer = minibatch_layer(rng)
    x = sg.Tensor(distinct_rows(rng, layer))
    sg.gradcheck(lambda t: layer(x), layer.T)


def test_minibatch_discrimination_keeps_float32():
    layer = tricks.MinibatchDiscrimination(3, 2, 2)
    out = layer(sg.Tensor(numpy.ones((4, 3), dtype=numpy.float32)))
    assert layer.T.dtype == numpy.float32 and out.dtype == numpy.float32


def test_minibatch_discrimination_names_the_expected_shape():
    layer = tricks.MinibatchDiscrimination(3, 2, 2)
    with pytest.raises(ValueError, match=r"MinibatchDiscrimination\(3, \.\.\.\): expected input \(N, 3\), got shape \(4, 5\)"):
        layer(sg.Tensor(numpy.ones((4, 5), dtype=numpy.float32)))


# -- EMA ----------------------------------------------------------------------------------------
class ModuleWithBuffer(sg.nn.Module):
    def __init__(self, dtype=numpy.float64):
        super().__init__()
        self.weight = sg.nn.Parameter(numpy.arange(6, dtype=dtype).reshape(2, 3))
        self.register_buffer("count", sg.Tensor(numpy.zeros(2, dtype=dtype)))

    def forward(self, x):
        return x @ self.weight


def test_ema_update_is_decay_shadow_plus_one_minus_decay_param():
    module = ModuleWithBuffer()
    ema = tricks.EMA(module, decay=0.9)
    before = ema.shadow.weight.numpy().copy()
    module.weight.data = module.weight.data * 3.0 + 1.0
    ema.update()
    expected = 0.9 * before + (1.0 - 0.9) * module.weight.numpy()
    numpy.testing.assert_array_equal(ema.shadow.weight.numpy(), expected)


def test_ema_copies_buffers():
    module = ModuleWithBuffer()
    ema = tricks.EMA(module, decay=0.9)
    module.count.data = numpy.array([4.0, 5.0])
    ema.update()
    numpy.testing.assert_array_equal(ema.shadow.count.numpy(), [4.0, 5.0])
    module.count.data[0] = 7.0  # in place: the shadow holds a copy
    assert ema.shadow.count.numpy()[0] == 4.0


def test_ema_shadow_changes_only_through_update():
    module = ModuleWithBuffer()
    ema = tricks.EMA(module, decay=0.9)
    initial = ema.shadow.weight.numpy().copy()
    module.weight.data = module.weight.data + 1.0
    module.weight.data[0, 0] = 100.0
    numpy.testing.assert_array_equal(ema.shadow.weight.numpy(), initial)
    assert ema.shadow.weight is not module.weight
    assert not ema.shadow.training


def test_ema_keeps_the_parameter_dtype():
    module = ModuleWithBuffer(numpy.float32)
    ema = tricks.EMA(module, decay=0.999)
    ema.update()
    assert ema.shadow.weight.dtype == numpy.float32 and ema.shadow.count.dtype == numpy.float32


@pytest.mark.parametrize("decay", [0.0, 1.0, 1.5])
def test_ema_rejects_a_decay_outside_0_1(decay):
    with pytest.raises(ValueError, match="EMA"):
        tricks.EMA(ModuleWithBuffer(), decay)


# -- unrolled GAN --------------------------------------------------------------------------------
@pytest.fixture
def unrolled_setup(rng):
    sg.manual_seed(3)
    return tanh_discriminator(2, 3), rng.standard_normal((4, 2)), rng.standard_normal((5, 2))


def test_unrolled_with_zero_steps_is_the_generator_loss(unrolled_setup):
    discriminator, fake, real = unrolled_setup
    loss = losses.get("nonsaturating")
    plain_fake = sg.Tensor(fake, requires_grad=True)
    plain = loss.generator(discriminator(plain_fake))
    plain.backward()
    unrolled_fake = sg.Tensor(fake, requires_grad=True)
    unrolled = tricks.unrolled_generator_loss(loss, discriminator, unrolled_fake, sg.Tensor(real), 0, 0.1)
    unrolled.backward()
    assert unrolled.item() == plain.item()
    numpy.testing.assert_allclose(unrolled_fake.grad.numpy(), plain_fake.grad.numpy(), rtol=1e-12)


def test_unrolled_passes_real_outputs_to_losses_that_need_them(unrolled_setup):
    discriminator, fake, real = unrolled_setup
    loss = losses.get("relativistic_average")
    expected = loss.generator(discriminator(sg.Tensor(fake)), real_out=discriminator(sg.Tensor(real)))
    value = tricks.unrolled_generator_loss(loss, discriminator, sg.Tensor(fake), sg.Tensor(real), 0, 0.1)
    assert value.item() == pytest.approx(expected.item(), rel=1e-12)


def test_unrolled_one_step_matches_a_manual_unroll(unrolled_setup):
    discriminator, fake, real = unrolled_setup
    loss, lr = losses.get("nonsaturating"), 0.5
    manual_fake = sg.Tensor(fake, requires_grad=True)
    theta0 = dict(discriminator.named_parameters())
    d_loss = loss.discriminator(functional_call(discriminator, theta0, sg.Tensor(real)),
                                functional_call(discriminator, theta0, manual_fake))
    grads = sg.grad(d_loss, list(theta0.values()), create_graph=True)
    theta1 = {name: p - lr * g for (name, p), g in zip(theta0.items(), grads)}
    manual = loss.generator(functional_call(discriminator, theta1, manual_fake))
    (manual_grad,) = sg.grad(manual, manual_fake)
    unrolled_fake = sg.Tensor(fake, requires_grad=True)
    value = tricks.unrolled_generator_loss(loss, discriminator, unrolled_fake, sg.Tensor(real), 1, lr)
    (unrolled_grad,) = sg.grad(value, unrolled_fake)
    assert value.item() == pytest.approx(manual.item(), rel=1e-12)
    numpy.testing.assert_allclose(unrolled_grad.numpy(), manual_grad.numpy(), rtol=1e-10)


def test_unrolled_one_step_matches_the_closed_form_for_a_linear_discriminator(rng):
    discriminator = sg.nn.Linear(2, 1, dtype=numpy.float64)
    fake, real, lr = rng.standard_normal((4, 2)), rng.standard_normal((5, 2)), 0.5
    w, b = discriminator.weight.numpy()[0], discriminator.bias.numpy()[0]
    real_logits, fake_logits = real @ w + b, fake @ w + b
    # d/dtheta [E sp(-r) + E sp(f)]: sp'(v) = sigmoid(v)
    grad_w = (-sigmoid(-real_logits)[:, None] * real).mean(axis=0) + (sigmoid(fake_logits)[:, None] * fake).mean(axis=0)
    grad_b = -sigmoid(-real_logits).mean() + sigmoid(fake_logits).mean()
    expected = softplus(-(fake @ (w - lr * grad_w) + (b - lr * grad_b))).mean()
    value = tricks.unrolled_generator_loss(losses.get("nonsaturating"), discriminator, sg.Tensor(fake),
                                           sg.Tensor(real), 1, lr)
    assert value.item() == pytest.approx(expected, rel=1e-12)


def test_unrolled_gradient_wrt_fake_includes_the_second_order_term(unrolled_setup):
    discriminator, fake, real = unrolled_setup
    loss, real = losses.get("nonsaturating"), sg.Tensor(real)
    sg.gradcheck(lambda f: tricks.unrolled_generator_loss(loss, discriminator, f, real, 1, 0.5),
                 sg.Tensor(fake, requires_grad=True))


def test_unrolled_leaves_the_discriminator_unchanged(unrolled_setup):
    discriminator, fake, real = unrolled_setup
    before = parameter_arrays(discriminator)
    objects = dict(discriminator.named_parameters())
    value = tricks.unrolled_generator_loss(losses.get("nonsaturating"), discriminator,
                                           sg.Tensor(fake, requires_grad=True), sg.Tensor(real), 3, 0.5)
    value.backward()
    after = dict(discriminator.named_parameters())
    assert all(after[name] is objects[name] for name in objects)
    for name, array in before.items():
        numpy.testing.assert_array_equal(after[name].numpy(), array)


def test_unrolled_rejects_negative_steps(unrolled_setup):
    discriminator, fake, real = unrolled_setup
    with pytest.raises(ValueError, match="steps must be >= 0"):
        tricks.unrolled_generator_loss(losses.get("nonsaturating"), discriminator, sg.Tensor(fake),
                                       sg.Tensor(real), -1, 0.1)


# -- functional_call -----------------------------------------------------------------------------
def test_functional_call_uses_the_substituted_parameters(rng):
    layer = sg.nn.Linear(3, 2, dtype=numpy.float64)
    weight, x = rng.standard_normal((2, 3)), rng.standard_normal((4, 3))
    out = functional_call(layer, {"weight": sg.Tensor(weight)}, sg.Tensor(x))
    numpy.testing.assert_allclose(out.numpy(), x @ weight.T + layer.bias.numpy(), rtol=1e-12)


def test_functional_call_resolves_nested_names(rng):
    model = tanh_discriminator(2, 3)
    zero = sg.Tensor(numpy.zeros((1, 3)))
    bias = sg.Tensor(numpy.array([1.5]))
    out = functional_call(model, {"2.weight": zero, "2.bias": bias}, sg.Tensor(rng.standard_normal((4, 2))))
    numpy.testing.assert_array_equal(out.numpy(), numpy.full((4, 1), 1.5))


def test_functional_call_restores_the_originals_after_a_call(rng):
    layer = sg.nn.Linear(3, 2, dtype=numpy.float64)
    original = layer.weight
    functional_call(layer, {"weight": sg.Tensor(rng.standard_normal((2, 3)))}, sg.Tensor(numpy.ones((1, 3))))
    assert layer.weight is original


def test_functional_call_restores_the_originals_when_forward_raises(rng):
    layer = sg.nn.Linear(3, 2, dtype=numpy.float64)
    original = layer.weight
    with pytest.raises(ValueError, match="Linear"):
        functional_call(layer, {"weight": sg.Tensor(rng.standard_normal((2, 3)))}, sg.Tensor(numpy.ones((1, 5))))
    assert layer.weight is original
    assert layer._parameters["weight"] is original


def test_functional_call_rejects_an_unknown_name_and_restores_earlier_substitutions():
    layer = sg.nn.Linear(3, 2, dtype=numpy.float64)
    original = layer.weight
    with pytest.raises(KeyError, match="no parameter 'scale'"):
        functional_call(layer, {"weight": sg.Tensor(numpy.zeros((2, 3))), "scale": sg.Tensor(numpy.ones(1))},
                        sg.Tensor(numpy.ones((1, 3))))
    assert layer.weight is original


def test_functional_call_rejects_a_wrong_shape():
    layer = sg.nn.Linear(3, 2, dtype=numpy.float64)
    with pytest.raises(ValueError, match=r"weight has shape \(3, 2\), expected \(2, 3\)"):
        functional_call(layer, {"weight": sg.Tensor(numpy.zeros((3, 2)))}, sg.Tensor(numpy.ones((1, 3))))


# -- historical averaging ------------------------------------------------------------------------
def test_historical_average_is_the_squared_distance_to_the_mean_of_past_parameters():
    p = sg.nn.Parameter(sg.Tensor(numpy.array([1.0, 2.0])))
    q = sg.nn.Parameter(sg.Tensor(numpy.array([[0.5]])))
    history = tricks.HistoricalAverage([p, q])
    assert history.penalty().item() == 0.0  # theta[1] is the initial parameters
    p.data = numpy.array([3.0, 2.0])
    q.data = numpy.array([[1.5]])
    # averages still the initial values: (3 - 1)^2 + 0 + (1.5 - 0.5)^2
    assert history.penalty().item() == pytest.approx(5.0)
    history.update()  # averages (2, 2) and 1.0
    p.data = numpy.array([4.0, 0.0])
    assert history.penalty().item() == pytest.approx((4 - 2) ** 2 + (0 - 2) ** 2 + (1.5 - 1.0) ** 2)
    history.update()  # the mean of (1, 3, 4) and (2, 2, 0), of (0.5, 1.5, 1.5)
    numpy.testing.assert_allclose(history.averages[0], [8 / 3, 4 / 3])
    numpy.testing.assert_allclose(history.averages[1], [[3.5 / 3]])


def test_historical_average_gradients_first_and_second_order():
    rng = numpy.random.default_rng(0)
    p = sg.nn.Parameter(sg.Tensor(rng.standard_normal((3, 2))))
    history = tricks.HistoricalAverage([p])
    p.data = p.data + rng.standard_normal((3, 2))
    history.update()
    average = history.averages[0]

    def value(x):
        difference = x - sg.Tensor(average)
        return (difference * difference).sum()

    x = sg.Tensor(p.numpy().copy(), requires_grad=True)
    sg.gradcheck(value, x)
    sg.gradgradcheck(value, x)
    history.penalty().backward()
    numpy.testing.assert_allclose(p.grad.numpy(), 2 * (p.numpy() - average), rtol=1e-12)


def test_historical_averaging_keeps_a_player_near_its_past_and_resumes_exactly():
    from scratchgan.gan.trainer import TrainConfig, Trainer

    config = dict(data="ring8", steps=6, batch_size=32, hidden=16, depth=2, latent_dim=4, penalty="none",
                  lr_schedule="constant", dtype="float64", lr_d=0.05, lr_g=0.05)
    drift = {}
    for weight in (0.0, 5.0):
        trainer = Trainer(TrainConfig(historical_averaging=weight, **config))
        start = {n: p.numpy().copy() for n, p in trainer.discriminator.named_parameters()}
        for _ in range(6):
            logs = trainer.step()
        drift[weight] = sum(float(((p.numpy() - start[n]) ** 2).sum())
                            for n, p in trainer.discriminator.named_parameters())
    assert "D_historical_average" in logs and drift[5.0] < drift[0.0]
    trainer = Trainer(TrainConfig(historical_averaging=5.0, **config))
    for _ in range(3):
        trainer.step()
    state = trainer.state_arrays()
    assert {"historyD/count", "historyG/count"} <= set(state)
    later = [trainer.step() for _ in range(3)]
    again = Trainer(TrainConfig(historical_averaging=5.0, **config))
    again.load_state_arrays(state)
    assert [again.step() for _ in range(3)] == later


# -- PacGAN packing ---------------------------------------------------------------------------------
def test_packed_concatenates_consecutive_samples_along_features_and_channels():
    flat = tricks.Packed(sg.nn.Identity(), 2)
    x = numpy.arange(12.0).reshape(4, 3)
    numpy.testing.assert_array_equal(flat(sg.Tensor(x)).numpy(), [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11]])
    images = numpy.arange(4 * 2 * 2 * 2.0).reshape(4, 2, 2, 2)
    packed = tricks.Packed(sg.nn.Identity(), 2)(sg.Tensor(images)).numpy()
    assert packed.shape == (2, 4, 2, 2)
    numpy.testing.assert_array_equal(packed[1], numpy.concatenate([images[2], images[3]]))
    with pytest.raises(ValueError, match="a batch of 3 samples does not split into packs of 2"):
        flat(sg.Tensor(x[:3]))
    with pytest.raises(ValueError, match="pack must be >= 2"):
        tricks.Packed(sg.nn.Identity(), 1)


def test_packed_discriminator_gradients_first_and_second_order():
    d = tricks.Packed(tanh_discriminator(in_dim=4), 2)
    x = sg.Tensor(numpy.random.default_rng(1).standard_normal((6, 2)), requires_grad=True)
    sg.gradcheck(d, x)
    sg.gradgradcheck(d, x)


def test_a_packed_run_scores_packs_and_validates_the_batch():
    from scratchgan.gan.trainer import TrainConfig, Trainer

    trainer = Trainer(TrainConfig(data="ring8", pack=4, batch_size=32, hidden=16, depth=2, steps=4,
                                  penalty="gradient_penalty"))
    assert trainer.discriminator(sg.Tensor(numpy.zeros((32, 2), numpy.float32))).shape == (8, 1)
    assert numpy.isfinite(trainer.step()["d_loss"])
    assert trainer.discriminator_values(numpy.zeros((5, 2))).shape == (5,)
    with pytest.raises(ValueError, match="batch_size must be a multiple of it"):
        TrainConfig(data="ring8", pack=3, batch_size=32).validate()


# -- virtual batch norm in the generator -------------------------------------------------------------
def test_virtual_batch_norm_makes_a_generated_sample_independent_of_its_batch():
    from scratchgan.gan.trainer import TrainConfig, Trainer

    def outputs(virtual):
        trainer = Trainer(TrainConfig(data="digits8x8", model="dcgan", width=4, latent_dim=6, batch_size=8,
                                      steps=2, dtype="float64", virtual_batch_norm=virtual))
        trainer.step()
        g = trainer.generator.train()
        rng = numpy.random.default_rng(3)
        z, others = rng.standard_normal((4, 6)), rng.standard_normal((4, 6))
        alone = g(sg.Tensor(z)).numpy()[:2]
        mixed = g(sg.Tensor(numpy.concatenate([z[:2], others[2:]]))).numpy()[:2]
        return trainer, alone, mixed

    trainer, alone, mixed = outputs(True)
    assert not any(isinstance(m, (sg.nn.BatchNorm1d, sg.nn.BatchNorm2d)) for m in trainer.generator.modules())
    assert "G/reference_latents" in trainer.state_arrays()
    numpy.testing.assert_allclose(mixed, alone, rtol=1e-12, atol=1e-12)
    _, alone, mixed = outputs(False)  # batch norm in train mode: batchmates change a sample
    assert numpy.abs(mixed - alone).max() > 1e-6
