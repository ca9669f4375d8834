"""Import a script of ``experiments/`` as a module, for the tests of the experiment protocols.

The scripts' file names start with their chapter's number (``02_loss_comparison.py``), which a
plain ``import`` cannot name; :func:`load` imports one by path.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


def load(filename: str) -> ModuleType:
    """The module of ``experiments/<filename>``, registered in ``sys.modules`` (dataclasses
    defined in a script look their module up there)."""
    path = EXPERIMENTS / filename
    name = "experiments_" + path.stem
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
