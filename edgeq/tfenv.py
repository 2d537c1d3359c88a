"""Import TensorFlow/Keras lazily and keep their log noise off the user's terminal."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from types import ModuleType

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


def tensorflow() -> ModuleType:
    """`import tensorflow`, silenced (it takes seconds: call only when a command needs it)."""
    with captured_output():
        warnings.filterwarnings("ignore", module="tensorflow")
        warnings.filterwarnings("ignore", module="keras")
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")
        try:
            from absl import logging as absl_logging

            absl_logging.set_verbosity(absl_logging.ERROR)
        except ImportError:  # pragma: no cover
            pass
    return tf


def keras() -> ModuleType:
    """`import keras` after TensorFlow, silenced."""
    tensorflow()
    import keras as keras_module

    return keras_module


@contextlib.contextmanager
def captured_output() -> Iterator[list[str]]:
    """Redirect the process' stdout and stderr file descriptors (C++ logs included) into a buffer.

    The yielded list receives the captured text when the block ends, so errors can quote it.
    """
    sink: list[str] = []
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 1)
        os.dup2(tmp.fileno(), 2)
        try:
            yield sink
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            tmp.seek(0)
            sink.append(tmp.read().decode("utf-8", "replace"))
