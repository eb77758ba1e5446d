"""Optional packages, imported where a feature needs them: a missing one names the extra to install.

``import simulate`` imports none of them; :func:`optional` is called inside the method that uses one
(``Sweep.to_xarray``, ``Trajectory.to_pandas``, a ``.nc`` or ``.zarr`` output).
"""

from __future__ import annotations

import importlib

__all__ = ["optional", "INSTALL"]

#: How to install each optional package: the extra of pyproject.toml that holds it.
INSTALL = {**dict.fromkeys(("xarray", "pandas", "h5netcdf", "h5py", "zarr"), 'pip install "simulate[data]"'),
           "ipywidgets": 'pip install "simulate[notebook]"', "IPython": 'pip install "simulate[notebook]"',
           "sphinx": 'pip install "simulate[docs]"'}


def optional(name: str, what: str):
    """The module ``name``, imported now; if it is missing, a :class:`ModuleNotFoundError` that says
    what needs it (``what``) and which extra installs it (``pip install "simulate[data]"``)."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:  # ModuleNotFoundError, or None in sys.modules (a blocked import)
        top = name.split(".")[0]
        raise ModuleNotFoundError(f"{what} needs the optional package {top}: "
                                  f"{INSTALL.get(top, f'pip install {top}')}", name=top) from exc
