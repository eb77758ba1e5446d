"""Optional packages, imported where a feature needs them: a missing one names the extra to install.

``import simulate`` imports none of them; :func:`optional` is called inside the method that uses one
(``Sweep.to_xarray``, ``Trajectory.to_pandas``, a ``.nc`` or ``.zarr`` output, a sweep on a Dask cluster).
"""

from __future__ import annotations

import importlib

__all__ = ["optional", "install_hint", "EXTRAS"]

#: What each extra of pyproject.toml installs, spelled for pip outside the checkout too: on PyPI the
#: name "simulate" is another project, so ``pip install "simulate[data]"`` would fetch that one.
EXTRAS = {"data": ('xarray', 'pandas', 'h5netcdf[h5py]', 'zarr'), "notebook": ("ipywidgets", "ipykernel"),
          "docs": ("sphinx", "sphinx-gallery", "myst-parser", "furo", "joblib"), "dask": ("dask[distributed]",)}
#: The extra that holds each optional package, by its import name.
_EXTRA_OF = {**dict.fromkeys(("xarray", "pandas", "h5netcdf", "h5py", "zarr"), "data"),
             **dict.fromkeys(("ipywidgets", "IPython"), "notebook"), "sphinx": "docs",
             **dict.fromkeys(("dask", "distributed"), "dask")}


def install_hint(extra: str) -> str:
    """How to install an extra: its packages, or the extra itself from simulate's checkout."""
    packages = " ".join(f'"{p}"' if "[" in p else p for p in EXTRAS[extra])
    return f'pip install {packages} (from simulate\'s checkout: pip install ".[{extra}]")'


def optional(name: str, what: str):
    """The module ``name``, imported now; if it is missing, a :class:`ModuleNotFoundError` that says
    what needs it (``what``) and how to install it (:func:`install_hint`)."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:  # ModuleNotFoundError, or None in sys.modules (a blocked import)
        top = name.split(".")[0]
        raise ModuleNotFoundError(f"{what} needs the optional package {top}: "
                                  f"{install_hint(_EXTRA_OF[top]) if top in _EXTRA_OF else f'pip install {top}'}", name=top) from exc
