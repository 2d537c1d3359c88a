"""Representative data for calibration and validation: .npy, .npz or a folder of images."""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeq.errors import CalibrationError, UsageError
from edgeq.tflite.signature import TensorSpec

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
SELECTION_SEED = 0


@dataclass(frozen=True)
class Preprocess:
    """x' = (x * scale - mean) / std, per channel where mean/std have several values; optional RGB<->BGR."""

    scale: float = 1.0
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    channel_order: str = "rgb"

    def __post_init__(self) -> None:
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
        if self.is_identity:
            return np.asarray(x, dtype=np.float32)
        channels = x.shape[-1] if x.ndim >= 2 else 1
        for option, values in (("--mean", self.mean), ("--std", self.std)):
            # numpy would broadcast 3 means over a 1-channel input into 3 channels: wrong data, late error
            if len(values) not in (1, channels):
                expected = "1 value" if channels == 1 else f"1 value or {channels} (one per channel)"
                raise UsageError(f"{option} has {len(values)} values but the samples have {channels} "
                                 f"channel{'s' if channels != 1 else ''} (last axis): give {expected}")
        if self.channel_order == "bgr" and channels == 3:
            x = x[..., ::-1]
        mean, std = np.asarray(self.mean, np.float32), np.asarray(self.std, np.float32)
        return ((x * self.scale - mean) / std).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "mean": list(self.mean), "std": list(self.std),
                "channel_order": self.channel_order}


@dataclass(frozen=True)
class InputStats:
    """min/max/mean/std of one (preprocessed) input over every sample and element."""

    name: str
    minimum: float
    maximum: float
    mean: float
    std: float

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **{key: float(f"{value:.6g}") for key, value in (
            ("min", self.minimum), ("max", self.maximum), ("mean", self.mean), ("std", self.std))}}

    def describe(self) -> str:
        return f"min {self.minimum:.4g}, max {self.maximum:.4g}, mean {self.mean:.4g}"


@dataclass
class SampleSet:
    """Samples per model input ([N, *shape] float32, in the model's input order), optional labels."""

    source: str
    sha256: str
    arrays: list[np.ndarray]
    labels: np.ndarray | None = None
    synthetic: bool = False
    preprocess: Preprocess = field(default_factory=Preprocess)
    names: tuple[str, ...] = ()  # the model input each array feeds (the converter may reorder inputs)

    @property
    def count(self) -> int:
        return int(self.arrays[0].shape[0])

    def sample(self, index: int) -> list[np.ndarray]:
        """The index-th sample with a batch dimension of 1, one array per input."""
        return [a[index:index + 1] for a in self.arrays]

    def stats(self) -> list[InputStats]:
        """Per input, over every sample and element (after preprocessing: what the model is fed)."""
        names = self.names or tuple(f"input_{i}" for i in range(len(self.arrays)))
        found = []
        for name, array in zip(names, self.arrays, strict=True):
            values = np.asarray(array, np.float64)
            found.append(InputStats(name, float(values.min()), float(values.max()), float(values.mean()),
                                    float(values.std())))
        return found

    def to_dict(self) -> dict[str, Any]:
        info: dict[str, Any] = {"source": self.source, "sha256": self.sha256, "samples": self.count,
                                "synthetic": self.synthetic, "labels": self.labels is not None}
        if not self.preprocess.is_identity:
            info["preprocess"] = self.preprocess.to_dict()
        info["inputs"] = [stat.to_dict() for stat in self.stats()]
        return info


def load_samples(path: str | Path, inputs: list[TensorSpec], *, limit: int | None = None,
                 preprocess: Preprocess | None = None, what: str = "calibration") -> SampleSet:
    """Read samples from .npy/.npz/an image folder and check them against the model's inputs."""
    path = Path(path)
    preprocess = preprocess or Preprocess()
    if not path.exists():
        raise CalibrationError(f"{what} data {path}: no such file or directory")
    if path.is_dir():
        arrays, labels = [_read_image_folder(path, inputs, what)], None
    elif path.suffix.lower() == ".npy":
        arrays, labels = [_read_npy(path, what)], None
    elif path.suffix.lower() == ".npz":
        arrays, labels = _read_npz(path, inputs, what)
    else:
        raise CalibrationError(f"{what} data {path}: expected a .npy file, a .npz file or a folder of images")
    arrays = [_check_array(a, spec, path, what) for a, spec in zip(arrays, inputs, strict=True)]
    counts = {a.shape[0] for a in arrays}
    if labels is not None:
        counts.add(labels.shape[0])
    if len(counts) != 1:
        raise CalibrationError(f"{what} data {path}: inputs/labels have different sample counts {sorted(counts)}")
    selection = select_indices(arrays[0].shape[0], limit)
    arrays = [preprocess.apply(a[selection].astype(np.float32)) for a in arrays]
    for a, spec in zip(arrays, inputs, strict=True):
        if not np.isfinite(a).all():
            raise CalibrationError(f"{what} data {path}: input {spec.name!r} contains NaN or infinite values")
    if labels is not None:
        labels = labels[selection]
    return SampleSet(source=path.name, sha256=_digest(arrays, labels), arrays=arrays, labels=labels,
                     preprocess=preprocess, names=tuple(spec.name for spec in inputs))


def synthetic_samples(inputs: list[TensorSpec], count: int, seed: int = SELECTION_SEED) -> SampleSet:
    """Random N(0,1) samples: only on explicit request; quantization ranges will be wrong for real data."""
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal((count, *spec.shape)).astype(np.float32) for spec in inputs]
    return SampleSet(source=f"synthetic:normal(0,1):{count}:seed{seed}", sha256=_digest(arrays, None),
                     arrays=arrays, synthetic=True, names=tuple(spec.name for spec in inputs))


def select_indices(total: int, limit: int | None) -> np.ndarray:
    """Deterministic choice of `limit` of `total` samples (seeded, kept in file order)."""
    if limit is not None and limit <= 0:
        raise CalibrationError(f"the sample limit must be positive, not {limit}")
    if limit is None or limit >= total:
        return np.arange(total)
    return np.sort(np.random.default_rng(SELECTION_SEED).choice(total, size=limit, replace=False))


def _digest(arrays: list[np.ndarray], labels: np.ndarray | None) -> str:
    digest = hashlib.sha256()
    for a in [*arrays, *([] if labels is None else [labels])]:
        digest.update(str(a.shape).encode())
        digest.update(np.ascontiguousarray(a).tobytes())
    return digest.hexdigest()


def _read_npy(path: Path, what: str) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise CalibrationError(f"{what} data {path}: not a readable .npy array ({exc})") from None


def _read_npz(path: Path, inputs: list[TensorSpec], what: str) -> tuple[list[np.ndarray], np.ndarray | None]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            contents = {key: npz[key] for key in npz.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise CalibrationError(f"{what} data {path}: not a readable .npz archive ({exc})") from None
    arrays = [contents[key] for key in npz_input_keys(contents, inputs, f"{what} data {path}")]
    labels = contents.get("y")
    return arrays, None if labels is None else check_labels(labels, f"{what} data {path}")


def npz_input_keys(available: Iterable[str], inputs: list[TensorSpec], where: str) -> list[str]:
    """The .npz keys holding the inputs: `x` for a single-input model, else one key per input name."""
    available = set(available)
    names = [spec.name for spec in inputs]
    if len(inputs) == 1 and "x" in available:
        return ["x"]
    if all(name in available for name in names):
        return names
    expected = "'x'" if len(inputs) == 1 else ", ".join(repr(n) for n in names)
    raise CalibrationError(f"{where}: needs key(s) {expected} (and optionally 'y' labels); "
                           f"found {', '.join(sorted(available)) or 'none'}")


def check_labels(labels: np.ndarray, where: str) -> np.ndarray:
    """Labels 'y' as int64 class ids [N]: one-hot [N, C] becomes ids; anything else non-negative integer."""
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] > 1:  # one-hot
        labels = labels.argmax(axis=1)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise CalibrationError(f"{where}: labels 'y' must be integer class ids [N] or one-hot [N, C], "
                               f"got dtype {labels.dtype} shape {labels.shape}")
    if labels.size and labels.min() < 0:
        raise CalibrationError(f"{where}: label {int(labels.min())} is negative")
    return labels.astype(np.int64)


def sample_shape(shape: tuple[int, ...], dtype: np.dtype, spec: TensorSpec, where: str) -> tuple[int, ...]:
    """Check an array's shape/dtype against a model input; a single sample without batch gets one (N=1)."""
    if dtype.kind not in "fiub":
        raise CalibrationError(f"{where}: input {spec.name!r} has dtype {dtype}, expected numbers")
    if tuple(shape) == tuple(spec.shape):
        shape = (1, *shape)
    if len(shape) == 0 or shape[0] == 0:
        raise CalibrationError(f"{where}: input {spec.name!r} has no samples")
    if tuple(shape[1:]) != tuple(spec.shape):
        raise CalibrationError(f"{where}: input {spec.name!r} has samples of shape {tuple(shape[1:])}, "
                               f"the model expects {tuple(spec.shape)} (array shape must be [N, *input_shape])")
    return tuple(shape)


def _check_array(array: np.ndarray, spec: TensorSpec, path: Path, what: str) -> np.ndarray:
    return array.reshape(sample_shape(array.shape, array.dtype, spec, f"{what} data {path}"))


def _read_image_folder(path: Path, inputs: list[TensorSpec], what: str) -> np.ndarray:
    if len(inputs) != 1:
        raise CalibrationError(f"{what} data {path}: an image folder works for single-input models only; use .npz")
    spec = inputs[0]
    if len(spec.shape) != 3 or spec.shape[-1] not in (1, 3):
        raise CalibrationError(f"{what} data {path}: the model input {spec.shape} is not an image [H, W, 1|3]")
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise CalibrationError(f"{what} data {path}: no images ({', '.join(IMAGE_SUFFIXES)}) in the folder")
    from edgeq.tfenv import tensorflow

    tf = tensorflow()
    height, width, channels = spec.shape
    images = []
    for file in files:
        try:
            image = tf.io.decode_image(file.read_bytes(), channels=channels, expand_animations=False)
        except Exception:
            raise CalibrationError(f"{what} data {file}: not a readable image") from None
        image = tf.image.resize(tf.cast(image, tf.float32), (height, width), antialias=True)
        images.append(image.numpy())
    return np.stack(images).astype(np.float32)
