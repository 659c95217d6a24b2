"""DESIGN.md's arrows: manual never imports torch; torch_ref never imports manual."""
import subprocess
import sys

import pytest


@pytest.mark.parametrize("package, forbidden", [("manual", "torch"), ("manual.models", "torch"),
                                                ("torch_ref", "manual")])
def test_package_does_not_import(package, forbidden):
    code = f"import sys, {package}; sys.exit(int({forbidden!r} in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0, f"{package} imports {forbidden}"
