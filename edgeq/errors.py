"""One error hierarchy. The CLI catches EdgeqError once and prints `error: <message>` on one line."""

from __future__ import annotations

from collections.abc import Iterable


def listing(items: Iterable[str], limit: int = 3) -> str:
    """'a, b, c and 37 more': a list short enough for a one-line error."""
    items = list(items)
    shown = ", ".join(items[:limit])
    return f"{shown} and {len(items) - limit} more" if len(items) > limit else shown


def article(word: str) -> str:
    """'a' or 'an' before `word` ('an android target', 'a microcontroller')."""
    return "an" if word[:1].lower() in "aeiou" else "a"


class EdgeqError(Exception):
    """Base of every error edgeq reports to a user. The message says what, where and what to do."""

    exit_code = 1


class UsageError(EdgeqError):
    """Bad combination of options or arguments (exit code 2, like click's own usage errors)."""

    exit_code = 2


class ModelLoadError(EdgeqError):
    """The source model could not be read or deserialized."""


class ModelFormatError(EdgeqError):
    """A .tflite file is missing, truncated or not a TFLite flatbuffer."""


class CalibrationError(EdgeqError):
    """Calibration or validation data is missing, malformed or does not match the model."""


class ConversionError(EdgeqError):
    """The TFLite converter failed."""


class QuantizationError(EdgeqError):
    """The converted model is not what the mode promised (e.g. float ops left in an int8 model)."""


class TargetError(EdgeqError):
    """Unknown target or malformed target profile."""


class ValidationFailed(EdgeqError):
    """A validation threshold was missed."""


class CheckFailed(EdgeqError):
    """The model does not fit or cannot run on the target."""


class OutputError(EdgeqError):
    """The output folder or file cannot be written where the user asked."""


class OutputExistsError(OutputError):
    """The output exists and may not be replaced: not empty without --force, or not edgeq's own output."""


class EmitError(EdgeqError):
    """A firmware project or C source could not be generated."""


class UnsupportedOpError(EdgeqError):
    """An operator is outside what a runtime (TFLM on a target, or edgeq's compiled-C engine) supports."""


class ToolMissingError(EdgeqError):
    """An external tool (compiler, emulator) is not installed."""


class VerifyError(EdgeqError):
    """Building or running the firmware on the emulated board failed, or its results differ."""


class CompressionError(EdgeqError):
    """A model cannot be compressed as asked (no int8 weights to rewrite, a format the runtime cannot decode)."""
