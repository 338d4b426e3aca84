"""Fixtures for the normdeploy tests; helpers live in helpers.py."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import OpRunner


@pytest.fixture(scope="session")
def ops() -> OpRunner:
    return OpRunner()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


