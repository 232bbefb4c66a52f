"""Specification of ``Module``: registration, traversal, state dicts, modes, dtypes, Sequential."""

import numpy
import pytest

import scratchgan as sg
from scratchgan import nn


class Affine(nn.Module):
    """A module with a parameter, a buffer, a non-persistent buffer and a child."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(numpy.ones(3, dtype=numpy.float32))
        self.register_buffer("count", sg.Tensor(numpy.zeros((), dtype=numpy.int64)))
        self.register_buffer("cache", sg.zeros(3), persistent=False)
        self.inner = nn.Linear(3, 2)
        self.plain_number = 7

    def forward(self, x):
        return self.inner(x * self.scale)


def make_nested():
    return nn.Sequential(
        nn.Linear(3, 4), nn.BatchNorm1d(4), nn.LeakyReLU(0.2),
        nn.Sequential(nn.Linear(4, 2), nn.Tanh()),
    )


def make_nested_torch(torch):
    return torch.nn.Sequential(
        torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.LeakyReLU(0.2),
        torch.nn.Sequential(torch.nn.Linear(4, 2), torch.nn.Tanh()),
    )


# -- registration -----------------------------------------------------------------------------
def test_parameters_buffers_and_children_are_registered():
    module = Affine()
    assert list(module._parameters) == ["scale"]
    assert list(module._buffers) == ["count", "cache"]
    assert list(module._modules) == ["inner"]
    assert module.plain_number == 7 and "plain_number" not in module._parameters


def test_named_parameters_lists_own_then_children_with_dotted_names():
    names = [name for name, _ in Affine().named_parameters()]
    assert names == ["scale", "inner.weight", "inner.bias"]


def test_named_parameters_without_recursion_lists_only_own():
    assert [name for name, _ in Affine().named_parameters(recurse=False)] == ["scale"]


def test_named_buffers_include_non_persistent_ones():
    assert [name for name, _ in Affine().named_buffers()] == ["count", "cache"]


def test_state_dict_omits_non_persistent_buffers():
    assert list(Affine().state_dict()) == ["scale", "count", "inner.weight", "inner.bias"]


def test_state_dict_values_are_numpy_copies():
    module = Affine()
    state = module.state_dict()
    assert isinstance(state["scale"], numpy.ndarray)
    state["scale"][:] = 5.0
    numpy.testing.assert_array_equal(module.scale.numpy(), numpy.ones(3))


def test_named_parameters_order_matches_torch(torch):
    ours = [name for name, _ in make_nested().named_parameters()]
    theirs = [name for name, _ in make_nested_torch(torch).named_parameters()]
    assert ours == theirs


def test_state_dict_keys_and_order_match_torch_for_nested_sequential(torch):
    assert list(make_nested().state_dict()) == list(make_nested_torch(torch).state_dict())


def test_state_dict_shapes_match_torch(torch):
    theirs = make_nested_torch(torch).state_dict()
    for key, value in make_nested().state_dict().items():
        assert value.shape == tuple(theirs[key].shape), key


def test_torch_state_dict_loads_and_outputs_agree(torch):
    reference = make_nested_torch(torch).double().eval()
    module = make_nested().double().eval()
    module.load_state_dict({k: v.numpy() for k, v in reference.state_dict().items()})
    inputs = numpy.random.default_rng(0).standard_normal((5, 3))
    ours = module(sg.Tensor(inputs)).numpy()
    theirs = reference(torch.tensor(inputs)).detach().numpy()
    numpy.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


# -- load_state_dict ------------------------------------------------------------------------------
def test_load_state_dict_with_missing_key_raises_naming_it():
    module = make_nested()
    state = module.state_dict()
    del state["3.0.bias"]
    with pytest.raises(KeyError, match=r"3\.0\.bias"):
        module.load_state_dict(state)


def test_load_state_dict_with_unexpected_key_raises_naming_it():
    module = make_nested()
    state = module.state_dict()
    state["extra.weight"] = numpy.zeros(2)
    with pytest.raises(KeyError, match=r"extra\.weight"):
        module.load_state_dict(state)


def test_load_state_dict_with_wrong_shape_raises_naming_key_and_shapes():
    module = make_nested()
    state = module.state_dict()
    state["0.weight"] = numpy.zeros((3, 4), dtype=numpy.float32)
    with pytest.raises(ValueError, match=r"0\.weight.*\(3, 4\).*\(4, 3\)"):
        module.load_state_dict(state)


def test_load_state_dict_non_strict_returns_missing_and_unexpected():
    module = nn.Linear(2, 2)
    missing, unexpected = module.load_state_dict({"weight": numpy.ones((2, 2)), "other": 1.0}, strict=False)
    assert missing == ["bias"] and unexpected == ["other"]
    numpy.testing.assert_array_equal(module.weight.numpy(), numpy.ones((2, 2)))


def test_load_state_dict_keeps_the_parameter_dtype():
    module = nn.Linear(2, 2)
    module.load_state_dict({"weight": numpy.full((2, 2), 0.5), "bias": numpy.zeros(2)})
    assert module.weight.dtype == numpy.float32 and module.bias.dtype == numpy.float32
    numpy.testing.assert_array_equal(module.weight.numpy(), numpy.full((2, 2), 0.5))


def test_load_state_dict_keeps_parameter_identity():
    module = nn.Linear(2, 2)
    weight = module.weight
    module.load_state_dict({"weight": numpy.ones((2, 2)), "bias": numpy.zeros(2)})
    assert module.weight is weight


def test_load_state_dict_copies_instead_of_aliasing():
    module = nn.Linear(2, 2, dtype=numpy.float64)
    source = numpy.ones((2, 2))
    module.load_state_dict({"weight": source, "bias": numpy.zeros(2)})
    source[:] = 3.0
    numpy.testing.assert_array_equal(module.weight.numpy(), numpy.ones((2, 2)))


# -- modes and gradients ----------------------------------------------------------------------------
def test_train_and_eval_propagate_to_every_descendant():
    module = make_nested()
    module.eval()
    assert not any(m.training for m in module.modules())
    module.train()
    assert all(m.training for m in module.modules())


def test_zero_grad_sets_grads_to_none():
    module = nn.Linear(3, 2)
    module(sg.ones(4, 3)).sum().backward()
    assert all(p.grad is not None for p in module.parameters())
    module.zero_grad()
    assert all(p.grad is None for p in module.parameters())


def test_zero_grad_without_set_to_none_zeroes_in_the_parameter_dtype():
    module = nn.Linear(3, 2)
    module(sg.ones(4, 3)).sum().backward()
    module.zero_grad(set_to_none=False)
    for p in module.parameters():
        assert p.grad.dtype == numpy.float32
        numpy.testing.assert_array_equal(p.grad.numpy(), numpy.zeros(p.shape))


# -- dtype conversion -------------------------------------------------------------------------------
def test_double_converts_parameters_and_grads_in_place():
    module = nn.Linear(3, 2)
    module(sg.ones(4, 3)).sum().backward()
    weight = module.weight
    module.double()
    assert module.weight is weight
    assert weight.dtype == numpy.float64 and weight.grad.dtype == numpy.float64


def test_float_converts_back_in_place():
    module = nn.Linear(3, 2, dtype=numpy.float64)
    weight = module.weight
    module.float()
    assert module.weight is weight and weight.dtype == numpy.float32


def test_double_keeps_integer_buffers_integer():
    module = nn.BatchNorm1d(3).double()
    assert module.running_mean.dtype == numpy.float64
    assert module.num_batches_tracked.dtype == numpy.int64


def test_optimizer_created_before_double_still_updates_the_parameters():
    module = nn.Linear(3, 2)
    optimizer = sg.optim.SGD(module.parameters(), lr=0.1)
    before = module.weight.numpy().astype(numpy.float64).copy()
    module.double()
    module(sg.ones(4, 3, dtype=numpy.float64)).sum().backward()
    optimizer.step()
    assert module.weight.dtype == numpy.float64
    # d/dW sum(x W^T + b) with x = ones(4, 3) is 4 everywhere
    numpy.testing.assert_allclose(module.weight.numpy(), before - 0.4, rtol=1e-6)


# -- apply and attribute reassignment ---------------------------------------------------------------
def test_apply_visits_every_module_children_before_parents():
    module = make_nested()
    visited = []
    module.apply(visited.append)
    assert len(visited) == len(list(module.modules()))
    assert visited[-1] is module
    assert visited.index(module[3][0]) < visited.index(module[3])


def test_apply_visits_modules_in_torch_order(torch):
    ours, theirs = [], []
    make_nested().apply(lambda m: ours.append(type(m).__name__))
    make_nested_torch(torch).apply(lambda m: theirs.append(type(m).__name__))
    assert ours == theirs


def test_apply_can_initialise_parameters():
    module = make_nested()

    def fill(m):
        if isinstance(m, nn.Linear):
            m.weight.data = numpy.full(m.weight.shape, 0.5, dtype=m.weight.dtype)

    module.apply(fill)
    numpy.testing.assert_array_equal(module[3][0].weight.numpy(), numpy.full((2, 4), 0.5))


def test_assigning_a_non_parameter_over_a_parameter_unregisters_it():
    module = nn.Linear(2, 2)
    replacement = sg.ones(2, 2)
    module.weight = replacement
    assert module.weight is replacement
    assert [name for name, _ in module.named_parameters()] == ["bias"]
    assert "weight" not in module.state_dict()


def test_assigning_a_parameter_again_re_registers_it():
    module = nn.Linear(2, 2)
    module.weight = 3
    module.weight = nn.Parameter(numpy.zeros((2, 2), dtype=numpy.float32))
    assert "weight" in dict(module.named_parameters())


def test_assigning_a_plain_value_over_a_child_unregisters_it():
    module = Affine()
    module.inner = None
    assert module.inner is None
    assert list(module._modules) == []
    assert [name for name, _ in module.named_parameters()] == ["scale"]


def test_assigning_before_super_init_raises_clearly():
    class Broken(nn.Module):
        def __init__(self):
            self.weight = nn.Parameter(numpy.zeros(2))

    with pytest.raises(RuntimeError, match="super"):
        Broken()


# -- Sequential -------------------------------------------------------------------------------------
def test_sequential_indexing_returns_the_modules():
    first, last = nn.Linear(2, 3), nn.Tanh()
    sequence = nn.Sequential(first, nn.ReLU(), last)
    assert sequence[0] is first and sequence[-1] is last


def test_sequential_slicing_returns_a_sequential_of_the_same_modules():
    modules = [nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)]
    part = nn.Sequential(*modules)[1:]
    assert isinstance(part, nn.Sequential)
    assert list(part) == modules[1:]


def test_sequential_slice_keeps_torch_key_names(torch):
    ours = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))[1:]
    theirs = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))[1:]
    assert list(ours.state_dict()) == list(theirs.state_dict())


def test_sequential_len_and_iter():
    modules = [nn.Linear(2, 3), nn.ReLU()]
    sequence = nn.Sequential(*modules)
    assert len(sequence) == 2
    assert list(iter(sequence)) == modules


def test_sequential_append_adds_the_next_numbered_child():
    sequence = nn.Sequential(nn.Linear(2, 3))
    returned = sequence.append(nn.Linear(3, 1))
    assert returned is sequence and len(sequence) == 2
    assert list(sequence.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]


def test_sequential_applies_modules_in_order():
    sequence = nn.Sequential(nn.Linear(2, 3, dtype=numpy.float64), nn.Tanh(), nn.Linear(3, 1, dtype=numpy.float64))
    x = sg.Tensor(numpy.array([[0.5, -1.0]]))
    expected = sequence[2](sequence[1](sequence[0](x)))
    numpy.testing.assert_array_equal(sequence(x).numpy(), expected.numpy())


def test_sequential_rejects_non_modules():
    with pytest.raises(TypeError, match="Sequential"):
        nn.Sequential(nn.ReLU(), lambda x: x)


# -- shared submodules ------------------------------------------------------------------------------
def test_shared_submodule_parameters_are_counted_once():
    shared = nn.Linear(3, 3)
    model = nn.Sequential(shared, nn.Tanh(), shared)
    assert len(list(model.parameters())) == 2
    assert [name for name, _ in model.named_parameters()] == ["0.weight", "0.bias"]


def test_shared_submodule_gradient_sums_both_uses():
    shared = nn.Linear(1, 1, bias=False, dtype=numpy.float64)
    shared.weight.data = numpy.array([[2.0]])
    model = nn.Sequential(shared, shared)
    model(sg.Tensor(numpy.array([[3.0]]))).sum().backward()
    # d/dw (w * w * x) = 2 w x = 12
    numpy.testing.assert_allclose(shared.weight.grad.numpy(), [[12.0]])


def test_shared_submodule_state_dict_keys_match_torch(torch):
    shared, torch_shared = nn.Linear(2, 2), torch.nn.Linear(2, 2)
    ours = nn.Sequential(shared, nn.Tanh(), shared)
    theirs = torch.nn.Sequential(torch_shared, torch.nn.Tanh(), torch_shared)
    assert list(ours.state_dict()) == list(theirs.state_dict())
