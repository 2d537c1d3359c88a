"""Preprocessing of samples (`--scale`, `--mean`, `--std`, `--channel-order`), its options declared on its fields.

Apart from edgeq.samples (which reads sample files with numpy) so that the CLI can build these options from
the fields without importing numpy: `edgeq --help` stays fast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from edgeq.errors import UsageError
from edgeq.optspec import option as cli_option  # `option` is a common loop name here

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class Preprocess:
    """x' = (x * scale - mean) / std, per channel where mean/std have several values; optional RGB<->BGR."""

    scale: float = cli_option("--scale", kind="number", default=1.0,
                              help="Preprocess: multiply samples by this (a fraction is fine: 1/255).")
    mean: tuple[float, ...] = cli_option("--mean", kind="numbers", default=(0.0,),
                                         help="Preprocess: subtract (after --scale), comma-separated per channel.")
    std: tuple[float, ...] = cli_option("--std", kind="numbers", default=(1.0,),
                                        help="Preprocess: divide by (after --mean), comma-separated per channel.")
    channel_order: str = cli_option("--channel-order", kind="choice", choices=("rgb", "bgr"), default="rgb",
                                    help="Preprocess: reverse the channels of 3-channel samples when bgr.")

    def __post_init__(self) -> None:
        for option, values in (("--scale", (self.scale,)), ("--mean", self.mean), ("--std", self.std)):
            bad = [v for v in values if not math.isfinite(v)]
            if bad:  # caught here, not later as "the data file contains NaN values"
                raise UsageError(f"preprocessing {option} must be a finite number, not {bad[0]}")
        if any(s == 0 for s in self.std):
            raise UsageError("preprocessing --std must not be 0")
        if self.channel_order not in ("rgb", "bgr"):
            raise UsageError(f"--channel-order is rgb or bgr, not {self.channel_order!r}")

    @property
    def is_identity(self) -> bool:
        return self == Preprocess()

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Samples [N, ..., C] -> preprocessed float32 samples of the same shape (no copy for float32
        samples when nothing was asked: validation calls this on every batch)."""
        import numpy as np  # here, not at import: the CLI reads these fields to build its options

        if self.is_identity:
            return np.asarray(x, dtype=np.float32)
        channels = x.shape[-1] if x.ndim >= 2 else 1
        for option, values in (("--mean", self.mean), ("--std", self.std)):
            # numpy would broadcast 3 means over a 1-channel input into 3 channels: wrong data, late error
            if len(values) not in (1, channels):
                expected = "1 value" if channels == 1 else f"1 value or {channels} (one per channel)"
                raise UsageError(f"{option} has {len(values)} values but the samples have {channels} "
                                 f"channel{'s' if channels != 1 else ''} (last axis): give {expected}")
        if self.channel_order == "bgr":
            if channels != 3:  # reversing 1 channel does nothing: the user expects a change that never happens
                raise UsageError(f"--channel-order bgr reverses 3 channels, but the samples have {channels} "
                                 f"channel{'s' if channels != 1 else ''} (last axis): drop --channel-order")
            x = x[..., ::-1]
        mean, std = np.asarray(self.mean, np.float32), np.asarray(self.std, np.float32)
        return ((x * self.scale - mean) / std).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "mean": list(self.mean), "std": list(self.std),
                "channel_order": self.channel_order}
