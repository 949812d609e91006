"""The built wheel carries the shipped rules and samples, so `init` works from a regular install."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import REPO


@pytest.mark.slow
def test_init_works_from_an_installed_wheel(tmp_path):
    """Build the wheel, install it (not editable) in its own folder, and `init` a working setup."""
    wheels, target = tmp_path / "wheels", tmp_path / "installed"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(wheels), str(REPO)], check=True, capture_output=True)
    wheel = next(wheels.glob("importd-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                    str(wheel)], check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": str(target)}
    where = subprocess.run([sys.executable, "-c", "import importd; print(importd.__file__)"], cwd=tmp_path,
                           env=env, capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(target))
    result = subprocess.run([sys.executable, "-m", "importd", "init", "site"], cwd=tmp_path, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    site = tmp_path / "site"
    assert (site / "rules" / "shopify-orders.toml").is_file()
    assert (site / "rules" / "customers-fr.toml").is_file()
    assert (site / "samples" / "orders_export_1.csv").is_file()
    check = subprocess.run([sys.executable, "-m", "importd", "check", "-c", "site/importd.toml"], cwd=tmp_path,
                           env=env, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
