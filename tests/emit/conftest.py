"""Fixtures for the emit tests: small integer .tflite models (emit_models.py), compilers and the golden-file flag.

Golden files under tests/emit/golden/ are rewritten only with `pytest tests/emit --update-golden` (a flag
on the command line, not an environment variable that could linger in a shell or CI); otherwise a
difference fails the test.
"""

from __future__ import annotations

import shutil

import pytest
from emit_models import build_tiny_model

from edgeq.tflite import TFLiteModel, read_model


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="Rewrite tests/emit/golden/ from the current emitter instead of comparing.")


@pytest.fixture(scope="session")
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden", default=False))


@pytest.fixture(scope="session")
def tiny_int8() -> TFLiteModel:
    return read_model(build_tiny_model())


@pytest.fixture(scope="session")
def tiny_float_io() -> TFLiteModel:
    return read_model(build_tiny_model(float_io=True))


@pytest.fixture(scope="session")
def tools() -> dict[str, str]:
    """The compilers the compile tests use (installed with the Debian packages the README lists)."""
    found = {name: shutil.which(name) for name in ("gcc", "g++", "arm-none-eabi-gcc", "arm-none-eabi-g++")}
    missing = [name for name, path in found.items() if path is None]
    assert not missing, f"compile tests need {', '.join(missing)} (apt install gcc g++ gcc-arm-none-eabi " \
                        "libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib)"
    return {name: str(path) for name, path in found.items()}
