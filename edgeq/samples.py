"""Representative data for calibration and validation: .npy, .npz or a folder of images."""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeq.errors import CalibrationError
from edgeq.preprocess import Preprocess
from edgeq.tflite.signature import TensorSpec

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
SELECTION_SEED = 0


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
    notes: list[str] = field(default_factory=list)  # warnings about how the file was read (a user should see them)

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
    notes: list[str] = []
    if path.is_dir():
        arrays, labels = [_read_image_folder(path, inputs, what)], None
    elif path.suffix.lower() == ".npy":
        one_array_only(inputs, f"{what} data {path}")
        arrays, labels = [_read_npy(path, what)], None
    elif path.suffix.lower() == ".npz":
        arrays, labels = _read_npz(path, inputs, what, notes)
    else:
        raise CalibrationError(f"{what} data {path}: expected a .npy file, a .npz file or a folder of images")
    arrays = [_check_array(a, spec, path, what, notes) for a, spec in zip(arrays, inputs, strict=True)]
    counts = {spec.name: a.shape[0] for a, spec in zip(arrays, inputs, strict=True)}
    if labels is not None:
        counts["labels 'y'"] = label_rows(labels, f"{what} data {path}")
    check_counts(counts, f"{what} data {path}")
    selection = select_indices(arrays[0].shape[0], limit)
    arrays = [preprocess.apply(a[selection].astype(np.float32)) for a in arrays]
    for a, spec in zip(arrays, inputs, strict=True):
        if not np.isfinite(a).all():
            raise CalibrationError(f"{what} data {path}: input {spec.name!r} contains NaN or infinite values")
    if labels is not None:
        labels = labels[selection]
    return SampleSet(source=path.name, sha256=_digest(arrays, labels), arrays=arrays, labels=labels,
                     preprocess=preprocess, names=tuple(spec.name for spec in inputs), notes=notes)


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


def _read_npz(path: Path, inputs: list[TensorSpec], what: str,
              notes: list[str]) -> tuple[list[np.ndarray], np.ndarray | None]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            contents = {key: npz[key] for key in npz.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise CalibrationError(f"{what} data {path}: not a readable .npz archive ({exc})") from None
    where = f"{what} data {path}"
    for key, value in contents.items():
        if not isinstance(value, np.ndarray):  # numpy hands back a member that is not .npy (a pickle) as bytes
            raise CalibrationError(f"{where}: member {key!r} is not a .npy array (edgeq never unpickles data); "
                                   "save the arrays with numpy.savez")
    keys, found = npz_input_keys(contents, inputs, where)
    notes.extend(found)
    return [contents[key] for key in keys], contents.get("y")


def one_array_only(inputs: list[TensorSpec], where: str) -> None:
    """A .npy file holds one array: refuse it for a model with several inputs."""
    if len(inputs) != 1:
        names = ", ".join(repr(spec.name) for spec in inputs)
        raise CalibrationError(f"{where}: a .npy file holds one array, the model has {len(inputs)} inputs "
                               f"({names}): use a .npz with one key per input name")


def npz_input_keys(available: Iterable[str], inputs: list[TensorSpec], where: str) -> tuple[list[str], list[str]]:
    """The .npz keys holding the inputs (`x` for a single-input model, else one key per input name) and the
    warnings to show. A key edgeq does not read is an error naming it: labels saved as 'labels' instead of
    'y' would otherwise be ignored and the run pass without them."""
    available = set(available)
    names = [spec.name for spec in inputs]
    notes = []
    if len(inputs) == 1 and "x" in available:
        keys = ["x"]
        if names[0] in available and names[0] != "x":
            notes.append(f"{where}: holds both 'x' and {names[0]!r}; edgeq reads 'x' for input {names[0]!r} "
                         f"and ignores {names[0]!r}")
            available.discard(names[0])
    elif all(name in available for name in names):
        keys = names
    else:
        expected = "'x'" if len(inputs) == 1 else ", ".join(repr(n) for n in names)
        raise CalibrationError(f"{where}: needs key(s) {expected} (and optionally 'y' labels); "
                               f"found {', '.join(sorted(available)) or 'none'}")
    unused = sorted(available - set(keys) - {"y"})
    if unused:
        reads = " and ".join(repr(k) for k in keys)
        raise CalibrationError(f"{where}: key(s) {', '.join(repr(k) for k in unused)} are not read by edgeq "
                               f"(it reads {reads} and optionally 'y' for labels): rename or remove them")
    return keys, notes


def check_counts(counts: dict[str, int], where: str) -> None:
    """Every input and the labels must have the same number of samples; the message names each count."""
    if len(set(counts.values())) > 1:
        each = ", ".join(f"{name if name.startswith('labels') else f'input {name!r}'} {count}"
                         for name, count in counts.items())
        raise CalibrationError(f"{where}: inputs/labels have different sample counts ({each})")


def label_rows(labels: np.ndarray, where: str) -> int:
    """The number of samples labels 'y' cover (their shape against the model's output is checked where the
    output is known: edgeq.validate.data.class_labels)."""
    if np.ndim(labels) == 0:
        raise CalibrationError(f"{where}: labels 'y' must have one entry per sample, got a single value")
    return int(np.shape(labels)[0])


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


def _check_array(array: np.ndarray, spec: TensorSpec, path: Path, what: str, notes: list[str]) -> np.ndarray:
    where = f"{what} data {path}"
    shape = sample_shape(array.shape, array.dtype, spec, where)
    if shape != array.shape:
        notes.append(no_batch_note(where, spec, array.shape))
    return array.reshape(shape)


def no_batch_note(where: str, spec: TensorSpec, shape: tuple[int, ...]) -> str:
    """The warning for an array shaped like one sample: it is read as 1 sample, which may not be what was meant."""
    return (f"{where}: input {spec.name!r} has shape {tuple(shape)}, one sample without a batch axis; read as 1 "
            f"sample (save [N, {', '.join(map(str, spec.shape))}] for N samples)")


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
        data = file.read_bytes()
        try:
            image = tf.io.decode_image(data, channels=channels, expand_animations=False)
        except Exception:
            image = None
        if image is None:  # TF's GIF and BMP decoders refuse channels=1: decode as stored, then convert
            try:
                image = _to_channels(tf, tf.io.decode_image(data, channels=0, expand_animations=False), channels)
            except Exception:
                raise CalibrationError(f"{what} data {file}: not a readable image") from None
        image = tf.image.resize(tf.cast(image, tf.float32), (height, width), antialias=True)
        images.append(image.numpy())
    return np.stack(images).astype(np.float32)


def _to_channels(tf: Any, image: Any, channels: int) -> Any:
    """A decoded image (1, 2, 3 or 4 channels: gray, gray+alpha, RGB, RGBA) as `channels` (1 or 3); alpha dropped."""
    have = int(image.shape[-1])
    if have in (2, 4):
        image, have = image[..., :have - 1], have - 1
    if have == channels:
        return image
    return tf.image.rgb_to_grayscale(image) if channels == 1 else tf.image.grayscale_to_rgb(image)
