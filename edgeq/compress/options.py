"""`--compress TECH[=VALUE][,TECH[=VALUE]...]`: the techniques a user asks for, parsed and checked up front.

Kept local to the compress step so the single option spec (CLI and API) can fold it in later.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeq.errors import UsageError

CLUSTER_BITS = (2, 6)       # b-bit LUT indices: 2^b shared values per channel
DEFAULT_DISTILL_EPOCHS = 3
# Built this session: weight-level techniques that rewrite the quantized flatbuffer.
BUILT = frozenset({"cluster", "int4"})
# Model-level techniques (they change the Keras model before quantization) and the search.
NOT_BUILT = frozenset({"prune", "lowrank", "distill", "auto"})
TECHNIQUES = ("cluster", "int4", "prune", "lowrank", "distill", "auto")
SYNTAX = "cluster=BITS, int4, prune=FRACTION, lowrank=ENERGY, distill[=EPOCHS] or auto"


@dataclass(frozen=True)
class Technique:
    """One requested technique and its parameter (None for int4 and auto)."""

    name: str
    value: float | int | None = None

    def __str__(self) -> str:
        return self.name if self.value is None else f"{self.name}={self.value}"


def _number(name: str, text: str, kind: type) -> float | int:
    try:
        return kind(text)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise UsageError(f"--compress {name}={text}: {name} takes {what}") from None


def _technique(item: str) -> Technique:
    name, has_value, text = item.partition("=")
    name = name.strip().lower()
    text = text.strip()
    if name not in TECHNIQUES:
        raise UsageError(f"--compress: unknown technique {name!r}; use {SYNTAX}")
    if has_value and not text:
        raise UsageError(f"--compress {name}=: give a value after '='")
    if name in ("int4", "auto"):
        if has_value:
            raise UsageError(f"--compress {name} takes no value (got {name}={text})")
        return Technique(name)
    if name == "cluster":
        if not has_value:
            raise UsageError("--compress cluster needs the index width: cluster=BITS with BITS 2..6")
        bits = _number(name, text, int)
        if not CLUSTER_BITS[0] <= bits <= CLUSTER_BITS[1]:
            raise UsageError(f"--compress cluster={bits}: BITS must be {CLUSTER_BITS[0]}..{CLUSTER_BITS[1]}")
        return Technique(name, bits)
    if name == "distill":
        epochs = _number(name, text, int) if has_value else DEFAULT_DISTILL_EPOCHS
        if epochs < 1:
            raise UsageError(f"--compress distill={epochs}: EPOCHS must be at least 1")
        return Technique(name, epochs)
    if not has_value:
        what = "FRACTION of channels to remove" if name == "prune" else "ENERGY: fraction of singular values kept"
        raise UsageError(f"--compress {name} needs a value: {name}={what.split(':')[0]} ({what}, in (0, 1))")
    value = float(_number(name, text, float))
    if not 0.0 < value < 1.0:
        raise UsageError(f"--compress {name}={text}: the value must lie strictly between 0 and 1")
    return Technique(name, value)


def parse_compress(text: str) -> tuple[Technique, ...]:
    """Parse a --compress value into techniques in the order given; every mistake is a one-line UsageError."""
    items = [item.strip() for item in text.split(",")]
    if not text.strip() or any(not item for item in items):
        raise UsageError(f"--compress {text!r}: empty technique; use {SYNTAX}, separated by commas")
    techniques = tuple(_technique(item) for item in items)
    names = [t.name for t in techniques]
    for name in names:
        if names.count(name) > 1:
            raise UsageError(f"--compress: {name} is given twice")
    if "auto" in names and len(names) > 1:
        raise UsageError("--compress auto chooses the techniques itself; give it alone")
    if "cluster" in names and "int4" in names:
        raise UsageError("--compress: cluster and int4 both rewrite the same weights; choose one")
    return techniques


def refuse_unbuilt(techniques: tuple[Technique, ...]) -> None:
    """Refuse, up front and in one line, the techniques this edgeq does not implement yet."""
    missing = [str(t) for t in techniques if t.name in NOT_BUILT]
    if missing:
        raise UsageError(f"--compress {', '.join(missing)}: not implemented yet; this edgeq implements "
                         f"cluster=BITS and int4 (weight sharing and int4 weights of an int8 .tflite)")
