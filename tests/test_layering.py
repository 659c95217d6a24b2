"""DESIGN.md's arrows: manual never imports torch; torch_ref never imports manual. Each arrow in a fresh
interpreter (what is imported is the point), its packages imported in turn, each checked after its import."""
import subprocess
import sys

import pytest

CODE = """
import importlib, sys
for package in sys.argv[2:]:
    importlib.import_module(package)
    if sys.argv[1] in sys.modules:
        sys.exit(f"{package} imports {sys.argv[1]}")
"""


@pytest.mark.parametrize("packages, forbidden", [(["manual", "manual.models"], "torch"), (["torch_ref"], "manual")],
                         ids=["manual-torch", "torch_ref-manual"])
def test_package_does_not_import(packages, forbidden):
    done = subprocess.run([sys.executable, "-c", CODE, forbidden, *packages], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
