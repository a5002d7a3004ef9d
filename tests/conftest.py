"""Shared fixtures. Heavy imports stay inside the fixtures so that advisor-only tests never load torch."""
from __future__ import annotations

import pytest
from hypothesis import settings

# Property tests are seeded (same examples every run) and have no per-example deadline, which a loaded
# 2-core CI machine would trip; run `pytest --hypothesis-profile=explore` to search with fresh examples.
settings.register_profile("ci", derandomize=True, deadline=None)
settings.register_profile("explore", deadline=None)
settings.load_profile("ci")


@pytest.fixture
def one_thread():
    """Run torch single-threaded (deterministic and fair on a shared 2-core machine), then restore."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def kjv():
    """The shipped corpus as a token source."""
    from calibration.proxy.data import load_corpus

    return load_corpus("kjv")
