import os

import pytest
import torch

torch.set_num_threads(int(os.environ.get("PNPLEAVES_TEST_THREADS", "1")))


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="also run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def device():
    return torch.device(os.environ.get("PNPLEAVES_TEST_DEVICE", "cpu"))


@pytest.fixture
def rng():
    return torch.Generator().manual_seed(0)


@pytest.fixture(scope="session", autouse=True)
def engine_cache(tmp_path_factory):
    """Exported networks (pnpleaves.priors.engine) go to a temporary folder, never the user's cache,
    unless PNPLEAVES_CACHE_DIR is set."""
    if os.environ.get("PNPLEAVES_CACHE_DIR"):
        yield os.environ["PNPLEAVES_CACHE_DIR"]
        return
    folder = tmp_path_factory.mktemp("engine-cache")
    os.environ["PNPLEAVES_CACHE_DIR"] = str(folder)
    try:
        yield str(folder)
    finally:
        os.environ.pop("PNPLEAVES_CACHE_DIR", None)
