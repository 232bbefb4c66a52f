"""Reverse-mode traversal: ``backward`` (accumulate into leaves' ``.grad``) and ``grad``.

The graph is walked in an explicit topological order built without recursion, so a
graph of any depth works and a node used several times receives the sum of its
gradients before its own backward runs.
"""

from __future__ import annotations

from scratchgan.autograd import grad_mode


def _topological_order(roots) -> list:
    """Functions reachable from the roots' creators; every node after all of its inputs' nodes."""
    order, visited = [], set()
    stack = [(root._creator, False) for root in roots if root._creator is not None]
    while stack:
        node, inputs_done = stack.pop()
        if inputs_done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for tensor in node._inputs:
            creator = tensor._creator
            if creator is not None and id(creator) not in visited:
                stack.append((creator, False))
    return order


def _key(tensor):
    """Gradients of non-leaf tensors are stored under their creator (one output per node)."""
    return id(tensor._creator) if tensor._creator is not None else id(tensor)


def _nodes_reaching(order, targets) -> set:
    """ids of the nodes from which some target tensor can be reached (for ``grad``)."""
    target_keys = {_key(t) for t in targets}
    reaching = set()
    for node in order:  # inputs' nodes come first
        for tensor in node._inputs:
            if _key(tensor) in target_keys or (
                tensor._creator is not None and id(tensor._creator) in reaching
            ):
                reaching.add(id(node))
                break
    return reaching


def _checked_gradient(node, position, tensor, gradient):
    """The gradient, with its shape checked and its dtype made the input's (mixed-precision ops)."""
    if gradient.shape != tensor.shape:
        raise RuntimeError(
            f"{node.name}.backward returned a gradient of shape {gradient.shape} for input "
            f"{position} of shape {tensor.shape}"
        )
    if gradient.dtype != tensor.dtype:
        gradient = gradient.astype(tensor.dtype)
    return gradient


def _run(roots, root_grads, retain_graph, create_graph, targets=None, order=None):
    """Propagate gradients from the roots; return the dict of accumulated gradients by key.
    ``order``: the roots' ``_topological_order`` when the caller has it already."""
    if order is None:
        order = _topological_order(roots)
    reaching = _nodes_reaching(order, targets) if targets is not None else None
    target_keys = {_key(t) for t in targets} if targets is not None else set()
    grads = {}
    # a node's output may be read by its own backward (tanh, exp, sqrt) while the only other
    # reference to it, a later node's input, has already been released: hold them for the walk
    outputs_alive = [node._output_ref() for node in order if node._output_ref is not None]  # noqa: F841
    with grad_mode.set_grad_enabled(create_graph):
        for root, root_grad in zip(roots, root_grads):
            key = _key(root)
            grads[key] = root_grad if key not in grads else grads[key] + root_grad
        for node in reversed(order):
            grad_output = grads.get(id(node))
            if grad_output is None:
                continue
            needs_input_grad = tuple(
                t.requires_grad
                and (reaching is None or _key(t) in target_keys
                     or (t._creator is not None and id(t._creator) in reaching))
                for t in node._inputs
            )
            if not any(needs_input_grad):  # a target's own node, with nothing upstream to reach
                continue
            node._check_alive()
            node.needs_input_grad = needs_input_grad
            input_grads = node.backward(grad_output)
            if len(input_grads) != len(node._inputs):
                raise RuntimeError(
                    f"{node.name}.backward returned {len(input_grads)} gradients for "
                    f"{len(node._inputs)} inputs"
                )
            for position, (tensor, gradient) in enumerate(zip(node._inputs, input_grads)):
                if gradient is None or not node.needs_input_grad[position]:
                    continue
                gradient = _checked_gradient(node, position, tensor, gradient)
                key = _key(tensor)
                grads[key] = gradient if key not in grads else grads[key] + gradient
            if id(node) not in target_keys:
                del grads[id(node)]  # its gradient is spent; free it early
            if not retain_graph:
                node.release()
    return grads


def _root_gradients(outputs, grad_outputs, create_graph, caller):
    from scratchgan.autograd.tensor import Tensor

    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    if len(grad_outputs) != len(outputs):
        raise ValueError(
            f"{caller}: got {len(grad_outputs)} grad_outputs for {len(outputs)} outputs"
        )
    gradients = []
    for output, gradient in zip(outputs, grad_outputs):
        if not output.requires_grad:
            raise RuntimeError(
                f"{caller}: an output of shape {output.shape} does not require grad and has no "
                f"graph; did you compute it under no_grad, or from tensors without requires_grad?"
            )
        if gradient is None:
            if output.data.size != 1:
                raise RuntimeError(
                    f"{caller}: a gradient can be created implicitly only for a scalar output; "
                    f"the output has shape {output.shape}, so pass a gradient of that shape"
                )
            gradient = Tensor(output.xp.ones_like(output.data))
        elif not isinstance(gradient, Tensor):
            gradient = Tensor(output.xp.asarray(gradient, dtype=output.dtype))
        if gradient.shape != output.shape:
            raise ValueError(
                f"{caller}: gradient has shape {gradient.shape}, expected the output's shape "
                f"{output.shape}"
            )
        gradients.append(gradient if create_graph else gradient.detach())
    return gradients


def _as_tuple(tensors):
    from scratchgan.autograd.tensor import Tensor

    return (tensors,) if isinstance(tensors, Tensor) else tuple(tensors)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False):
    """Accumulate d(tensors)/d(leaf) into ``leaf.grad`` for every leaf that requires grad."""
    roots = _as_tuple(tensors)
    if grad_tensors is not None:
        grad_tensors = _as_tuple(grad_tensors)
    if retain_graph is None:
        retain_graph = create_graph
    root_grads = _root_gradients(roots, grad_tensors, create_graph, "backward")
    leaves = {}
    order = _topological_order(roots)
    for node in order:
        for tensor in node._inputs:
            if tensor._creator is None and tensor.requires_grad:
                leaves[id(tensor)] = tensor
    for root in roots:
        if root._creator is None:
            leaves[id(root)] = root
    grads = _run(roots, root_grads, retain_graph, create_graph, order=order)
    with grad_mode.set_grad_enabled(create_graph):
        for key, leaf in leaves.items():
            gradient = grads.get(key)
            if gradient is None:
                continue
            leaf.grad = gradient if leaf.grad is None else leaf.grad + gradient


def grad(outputs, inputs, grad_outputs=None, create_graph=False, retain_graph=None,
         allow_unused=False):
    """Gradients of ``outputs`` w.r.t. ``inputs``, returned (not accumulated), as torch.autograd.grad."""
    outputs = _as_tuple(outputs)
    inputs = _as_tuple(inputs)
    if grad_outputs is not None:
        grad_outputs = _as_tuple(grad_outputs)
    if retain_graph is None:
        retain_graph = create_graph
    for position, tensor in enumerate(inputs):
        if not tensor.requires_grad:
            raise RuntimeError(
                f"grad: input {position} (shape {tensor.shape}) does not require grad"
            )
    root_grads = _root_gradients(outputs, grad_outputs, create_graph, "grad")
    grads = _run(outputs, root_grads, retain_graph, create_graph, targets=inputs)
    results = []
    for position, tensor in enumerate(inputs):
        gradient = grads.get(_key(tensor))
        if gradient is None and not allow_unused:
            raise RuntimeError(
                f"grad: input {position} (shape {tensor.shape}) was not used to compute the "
                f"outputs; pass allow_unused=True to get None for it"
            )
        results.append(gradient)
    return tuple(results)
