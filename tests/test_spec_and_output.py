"""Spec strings are parsed, never evaluated; outputs are written atomically."""

import numpy as np
import pytest

from simulate.io import files as output
from simulate.spec import MAX_LENGTH, SpecError, parse_spec


@pytest.mark.parametrize("text, expected", [
    ("adam", ("adam", {})),
    ("six-hump-camel", ("six-hump-camel", {})),
    ("adam(lr=0.01, betas=(0.9, 0.99))", ("adam", {"lr": 0.01, "betas": (0.9, 0.99)})),
    ("adam:lr=1e-3,eps=-0.5", ("adam", {"lr": 1e-3, "eps": -0.5})),
    ("rmsprop(centered=true, momentum=+0.5)", ("rmsprop", {"centered": True, "momentum": 0.5})),
    ("steepest(norm=2, normalized=False, centered=True)", ("steepest", {"norm": 2, "normalized": False, "centered": True})),
    ("quadratic(eigenvalues=[1, 100], angle=0.5)", ("quadratic", {"eigenvalues": (1, 100), "angle": 0.5})),
])
def test_accepted_forms(text, expected):
    assert parse_spec(text) == expected


def test_quoted_text_is_kept_as_text_and_a_number_field_refuses_it():
    import simulate as sim

    assert parse_spec("gd(lr=0.1, schedule='cosine(T_max=10)')") == ("gd", {"lr": 0.1, "schedule": "cosine(T_max=10)"})
    with pytest.raises(ValueError, match="only numbers"):
        sim.optimizer("adam(lr='fast')")
    with pytest.raises(ValueError, match="lr must be a number"):
        sim.optimizer("adam", lr="0.1")
    with pytest.raises(ValueError, match="only numbers"):
        sim.landscape("quadratic(condition='10')")


@pytest.mark.parametrize("text", [
    "adam(lr=__import__('os').system('echo hi'))",
    "adam(lr=x.__class__)",
    "adam(lr=(lambda: 1)())",
    "adam(lr=[c for c in 'ab'])",
    "adam(lr=f'{1}')",
    "adam(lr='fast')",
    "adam(lr=1+1)",
    "adam(lr=a[0])",
    "adam(0.1)",
    "adam(**{'lr': 1})",
    "adam(lr=0.1",
    "os.system('x')",
    "",
    "a" * (MAX_LENGTH + 1),
])
def test_everything_else_is_refused_with_a_message(text):
    with pytest.raises(SpecError):
        parse_spec(text)


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "data.npz"
    target.write_bytes(b"old")

    class Boom:
        def __array__(self, *a, **k):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        output.save_npz(target, {"a": np.arange(3), "b": Boom()})
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["data.npz"]


def test_written_file_honours_the_umask(tmp_path):
    path = output.save_npz(tmp_path / "a.npz", {"a": np.arange(3)})
    assert path.stat().st_mode & 0o777 == 0o666 & ~output._umask()
    np.testing.assert_array_equal(np.load(path)["a"], np.arange(3))


def test_a_key_given_twice_is_refused():
    with pytest.raises(SpecError, match="lr is given twice"):
        parse_spec("adam(lr=1e-2, lr=0.1)")
