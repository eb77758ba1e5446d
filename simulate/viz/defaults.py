"""What ``simulate plot`` draws when nothing is chosen: plain data, so that the command line can
show it in its help without importing the figures (matplotlib)."""

DEFAULT_LANDSCAPE = "himmelblau"
#: (name, hyperparameters) of the optimizers drawn by default
DEFAULT_OPTIMIZERS = (("gd", {"lr": 0.01}), ("momentum", {"lr": 0.01, "momentum": 0.8}), ("adam", {"lr": 0.1}))
DEFAULT_STEPS = 100
