"""simulate: optimizers as discrete maps and as the ODEs they discretize."""

from .viz.animation import animate
from .analysis.averaging import average, ema, running_mean
from .landscapes.callables import landscape_from
from .cli.demos import DEMOS, demo, gallery
from .solvers.continuous import METHODS, euler_step, integrate
from .solvers.discrete import iterate
from .analysis.ensembles import Ensemble, ensemble
from .analysis.experiment import Experiment, run_experiment
from .viz.explorer import Explorer, explore
from .viz.figures import PlotResult, comparison_figure, plot
from .models import FLOWS, Flow, flow
from .analysis.order import OrderResult, OrderStudy, order, order_study
from .landscapes.games import GAMES, Game
from .landscapes import LANDSCAPES, Landscape, landscape
from .solvers.noise import Noise, noise
from .optimizers import OPTIMIZERS, SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop, optimizer
from .cli.runs import rerun, run
from .optimizers.schedules import SCHEDULES, schedule
from .solvers.sdes import sde
from .analysis.sharpness import sharpness, stability_threshold
from .solvers.trajectory import Comparison, Trajectory, compare

from ._version import __version__
