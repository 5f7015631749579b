"""The interpreters and the repaired wheel of the junction under test, for tests that need
junction installed into another venv: test_package.py (a different CPython build) and
test_edge_listeners.py (an interpreter a dropped-to user can read)."""

from __future__ import annotations

import glob
import os
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, junction_bin


def venv_python() -> Path:
    """The interpreter of the venv the junction under test is installed in."""
    return junction_bin().parent / "python"


def built_python() -> str:
    """The real executable of the interpreter the junction under test was built for."""
    return subprocess.run([str(venv_python()), "-c",
                           "import sys, os; print(os.path.realpath(sys._base_executable))"],
                          capture_output=True, text=True, check=True).stdout.strip()


def other_python() -> str | None:
    """A CPython of the same minor version but a different build (Debian's or pyenv's)."""
    built = built_python()
    minor = subprocess.run([built, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                           capture_output=True, text=True, check=True).stdout.strip()
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates = [f"/usr/bin/python{minor}"]
    candidates += sorted(glob.glob(f"{root}/versions/{minor}.*/bin/python{minor}"))
    for candidate in candidates:
        if os.path.exists(candidate) and os.path.realpath(candidate) != built:
            return candidate
    return None


def repaired_wheel() -> Path:
    tag = "cp" + subprocess.run([built_python(), "-c",
                                 "import sys; print('%d%d' % sys.version_info[:2])"],
                                capture_output=True, text=True, check=True).stdout.strip()
    wheels = sorted((REPO / "wheelhouse").glob(f"junction-*-{tag}-{tag}-manylinux_*.whl"))
    if not wheels:
        pytest.fail(f"no repaired {tag} wheel in wheelhouse/: run `bash scripts/wheel.sh`")
    return wheels[-1]


def wheel_venv(python: str, root: Path) -> Path:
    """A venv of `python` at `root` with the repaired wheel (and nothing else) installed."""
    subprocess.run([python, "-m", "venv", str(root)], check=True, timeout=120)
    subprocess.run([str(root / "bin/python"), "-m", "pip", "install", "-q",
                    "--disable-pip-version-check", "--no-index", "--no-deps",
                    str(repaired_wheel())], check=True, timeout=300)
    return root
