"""simulate: optimizers as discrete maps and as the ODEs they discretize."""

from .animation import animate
from .averaging import average, ema, running_mean
from .callables import landscape_from
from .demos import DEMOS, demo, gallery
from .continuous import METHODS, euler_step, integrate
from .discrete import iterate
from .ensembles import Ensemble, ensemble
from .experiment import Experiment, run_experiment
from .explorer import Explorer, explore
from .figures import PlotResult, comparison_figure, plot
from .flows import FLOWS, Flow, flow
from .order import OrderResult, OrderStudy, order, order_study
from .games import GAMES, Game
from .landscapes import LANDSCAPES, Landscape, landscape
from .noises import Noise, noise
from .optimizers import OPTIMIZERS, SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop, optimizer
from .runs import rerun, run
from .schedules import SCHEDULES, schedule
from .sdes import sde
from .sharpness import sharpness, stability_threshold
from .trajectory import Comparison, Trajectory, compare

__version__ = "0.1.0"
