"""Shared tables: every optimizer configuration under test (registering one puts it here)."""

import numpy as np

# (name, hyperparameters): every structural branch of every optimizer.
OPTIMIZERS_UNDER_TEST = [
    ("gd", dict(lr=0.01)),
    ("gd", dict(lr=0.01, weight_decay=0.1)),
    ("momentum", dict(lr=0.01)),
    ("sgd", dict(lr=0.01, momentum=0.8, dampening=0.3, weight_decay=0.1)),
    ("nesterov", dict(lr=0.01, weight_decay=0.05)),
    ("rmsprop", dict(lr=0.01)),
    ("rmsprop", dict(lr=0.01, centered=True)),
    ("rmsprop", dict(lr=0.01, momentum=0.5, weight_decay=0.1)),
    ("rmsprop", dict(lr=0.01, centered=True, momentum=0.5, alpha=0.9)),
    ("adam", dict(lr=0.01)),
    ("adam", dict(lr=0.01, amsgrad=True, weight_decay=0.1, betas=(0.8, 0.99))),
    ("adamw", dict(lr=0.01)),
    ("adamw", dict(lr=0.01, amsgrad=True, weight_decay=0.3)),
    ("adagrad", dict(lr=0.1)),
    ("adagrad", dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.5, weight_decay=0.1)),
]


def case_id(case):
    name, kw = case
    return name + "-" + "-".join(f"{k}={v}" for k, v in kw.items())


def run_steps(opt, land, x0, steps, step=None):
    """x_1..x_steps of the discrete map (or of ``step``, e.g. the Euler step of the lift)."""
    step = step or opt.step
    state = opt.init(x0)
    xs = []
    for k in range(1, steps + 1):
        state = step(state, land, k)
        xs.append(state["x"])
    return np.array(xs)


def central_difference(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """∂f/∂x_j by central differences over points ``(..., d)``: result ``f(x).shape + (d,)``."""
    cols = []
    for j in range(x.shape[-1]):
        e = np.zeros(x.shape[-1])
        e[j] = h
        cols.append((f(x + e) - f(x - e)) / (2 * h))
    return np.stack(cols, axis=-1)


# -- statistics of noisy runs (tests/test_noise.py, tests/test_sde.py) ----------------------------------
Z = 5.0  # standard errors allowed by every statistical assertion


def var_tolerance(n: int) -> float:
    """Relative tolerance of a Gaussian sample variance of n draws: Z·√(2/(n − 1))."""
    return Z * np.sqrt(2 / (n - 1))


def ou(a: float = 1.0):
    """f = a·x²/2 in 1-D: gradient noise σ makes SGD an AR(1) process and its SDE an OU process."""
    import simulate as sim

    return sim.landscape("quadratic", eigenvalues=[a], dim=1)


def torch_iterates(torch_class, kw, land, x0, steps):
    """``torch_class([p], **kw)`` (a torch.optim class) fed our landscape's float64 gradient at each
    of its own iterates, ``steps`` of them, ``(steps, d)``."""
    import torch

    p = torch.nn.Parameter(torch.tensor(x0, dtype=torch.float64))
    opt = torch_class([p], **kw)
    xs = []
    for _ in range(steps):
        opt.zero_grad()
        p.grad = torch.tensor(land.grad(p.detach().numpy()), dtype=torch.float64)
        opt.step()
        xs.append(p.detach().numpy().copy())
    return np.array(xs)


def demo_data(written):
    """The arrays of a rendered demo (its ``.npz`` among the paths it wrote)."""
    return np.load(next(p for p in written if str(p).endswith(".npz")))


def sign_flow_errors(name: str, lrs, horizon: float = 0.5) -> list:
    """Per lr, the largest distance over t <= ``horizon`` between ``name(lr, betas=(0.9, 0.99))`` on the
    diagonal quadratic with curvatures 1 and 100 and the closed form of Adam's β-fixed sign flow,
    x_i(t) = sign(x_i0)·max(|x_i0| − t, 0) (whatever the curvatures), from (1, 0.8)."""
    import simulate as sim

    land = sim.landscape("quadratic(eigenvalues=(1, 100))")
    x0 = np.array([1.0, 0.8])
    errors = []
    for lr in lrs:
        run = sim.iterate(land, f"{name}(lr={lr}, betas=(0.9, 0.99))", x0, int(round(horizon / lr)))
        closed = np.sign(x0) * np.maximum(np.abs(x0) - run.t[:, None], 0)
        errors.append(np.max(np.linalg.norm(run.x - closed, axis=-1)))
    return errors
