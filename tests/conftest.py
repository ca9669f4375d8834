"""Shared fixtures for the relunet tests.

Property-based tests draw shapes and a seed with hypothesis and build their arrays from
``np.random.default_rng(seed)``, so every failing example is reproducible from its printout.
"""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh generator with a fixed seed for every test."""
    return np.random.default_rng(20240601)
