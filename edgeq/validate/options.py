"""How to validate (`edgeq validate`, `edgeq convert --val`): ValidationOptions, each CLI option a field.

Light on purpose (no numpy model code, no TensorFlow): the CLI builds its options from these fields at import.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeq.errors import UsageError
from edgeq.optspec import nested, option
from edgeq.preprocess import Preprocess
from edgeq.validate.gates import Thresholds

DEFAULT_TFLM_SAMPLES = 200
DEFAULT_BATCH = 256


@dataclass
class ValidationOptions:
    """How to validate: thresholds, how many samples each interpreter sees, what to run."""

    thresholds: Thresholds = nested(Thresholds)
    tflm_samples: int = option(
        "--tflm-samples", default=DEFAULT_TFLM_SAMPLES, kind="int", minimum=0, metavar="N", group="validation",
        help="TFLM runs one sample per invoke: run it (and the per-layer comparison) on a seeded subset of N "
             "samples; 0 skips TFLM.")
    samples: int | None = option(  # use at most N samples of the data (seeded selection)
        "--val-samples", "--samples", dest="val_samples", kind="int", minimum=1, metavar="N", shown=1,
        group="validation", default=None, help="Use at most N samples of the validation data (seeded selection).")
    batch_size: int = DEFAULT_BATCH
    litert: bool = True
    litert_reference_kernels: bool = True
    per_layer: bool = option("--no-layers", kind="off-flag", default=True, group="validation",
                             help="Skip the per-layer comparison.")
    preprocess: Preprocess = nested(Preprocess)
    unsafe_load: bool = option("--unsafe-load", kind="flag", default=False,
                               help="Allow Keras unsafe deserialization of --reference. Trusted files only.")
    jobs: int | None = option(  # None: one per core (edgeq.validate.workers.default_jobs)
        "--jobs", "-j", kind="int", minimum=1, metavar="N", default=None,
        help="Run LiteRT and TFLM in N processes (this one and N-1 workers), the samples split between them "
             "(results identical to one job) [default: the number of cores; runs too short to repay starting "
             "workers use one].")

    def __post_init__(self) -> None:
        if self.jobs is not None and self.jobs < 1:
            raise UsageError(f"--jobs must be 1 or more, not {self.jobs}")
        if self.tflm_samples < 0:
            raise UsageError(f"--tflm-samples must be 0 or more, not {self.tflm_samples}")
        if self.batch_size < 1:
            raise UsageError(f"the batch size must be positive, not {self.batch_size}")
