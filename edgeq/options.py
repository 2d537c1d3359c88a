"""`edgeq convert`'s options, described once, and the one up-front check of every combination.

Each ConvertOptions field that the command line sets is declared with `optspec.option(...)`: flags, help text,
kind and default in one place; `cli/` builds its click options from these fields (`edgeq convert` takes all of
them, `emit`/`verify`/`check` the ones they share). `check_up_front` decides every impossible combination and
every cheap fact before TensorFlow loads, for the CLI and the Python API alike: a refusal costs milliseconds.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from edgeq.errors import CalibrationError, ModelLoadError, UsageError, article
from edgeq.files import model_file_size
from edgeq.optspec import changed, nested, option, out_of_range
from edgeq.preprocess import Preprocess
from edgeq.quantize.modes import INTEGER_MODES, IO_TYPES, MODES
from edgeq.validate.options import ValidationOptions

if TYPE_CHECKING:
    from edgeq.check.targets import TargetProfile

DEFAULT_TARGET = "cortex-m4"
DEFAULT_NAME = "model"
DEFAULT_VERIFY_SAMPLES = 8
RUNTIMES = ("tflm", "c")
SYNTHETIC_SAMPLES = 100  # --synthetic-calib without --calib-samples
# An option of a group (Option.group) means something only when its group's switch is set: group -> (the
# ConvertOptions field that switches it on, how a message names it). A new group is one line here.
GROUPS = {"validation": ("val", "--val (validation data)")}


@dataclass
class ConvertOptions:
    """Everything `edgeq convert` takes besides the model path and the output directory."""

    target: str = option("-t", "--target", default=DEFAULT_TARGET, help="Target profile (see `edgeq targets`).")
    calib: Path | None = option(
        "--calib", kind="path", default=None,
        help="Calibration data: .npy [N,*shape], .npz (key x, or one key per input) or an image folder.")
    calib_samples: int | None = option("--calib-samples", kind="int", minimum=1, default=None, metavar="N",
                                       help="Use at most N samples (seeded selection).")
    synthetic_calib: bool = option("--synthetic-calib", kind="flag", default=False,
                                   help="Calibrate on random data (NOT recommended; warns).")
    mode: str = option("--mode", kind="choice", choices=MODES, default="int8",
                       help="Quantization: int8 / int16x8 (MCU and Android); float16 / dynamic (Android).")
    io_type: str = option("--io-type", kind="choice", choices=IO_TYPES, default="int8",
                          help="Model input/output type (int8 means int16 for int16x8).")
    preprocess: Preprocess = nested(Preprocess)
    unsafe_load: bool = option("--unsafe-load", kind="flag", default=False,
                               help="Allow Keras unsafe deserialization (Lambda layers). Trusted files only.")
    force: bool = option(
        "--force", kind="flag", default=False,
        help="Replace an earlier edgeq output in OUT (never a folder holding other files or an input).")
    template: str | None = option(  # the project goes in OUT/<template>/
        "--template", default=None, help="Firmware project template (see `edgeq templates`; default: the target's).")
    name: str = option("--name", default=DEFAULT_NAME,
                       help="C symbol prefix of the generated sources (sanitized to a C identifier).")
    runtime: str = option(
        "--runtime", kind="choice", choices=RUNTIMES, default="tflm",
        help="tflm: a TensorFlow Lite Micro project from --template; c: edgeq's compiled-C engine.")
    val: Path | None = option(
        "--val", kind="path", default=None,
        help="Validation data (.npz with x, or one key per input, and optional labels y; .npy; or an image "
             "folder): validate float vs LiteRT vs TFLM after quantizing; results in report.json, "
             "OUT/validation.html and OUT/validation.junit.xml.")
    validation: ValidationOptions = nested(ValidationOptions)  # thresholds and sample counts for --val
    recover: bool = option(
        "--recover", kind="flag", default=False,
        help="Try accuracy-recovery techniques (activation clipping, bias correction, cross-layer equalization, "
             "int16x8 as the last resort), chosen on held-out calibration samples; keep the best.")
    verify: bool = option(
        "--verify", kind="flag", default=False,
        help="Build for the target's core and run on an emulated board (QEMU); fails on any output that differs "
             "from the host TFLM interpreter. --runtime tflm needs --tflm-tree; the arena TFLM used on the core "
             "then sets the project's arena.")
    tflm_tree: Path | None = option(
        "--tflm-tree", kind="dir", envvar="EDGEQ_TFLM_TREE", default=None,
        help="TFLM sources for --verify --runtime tflm: a tree made by tflite-micro's create_tflm_tree.py "
             "[env: EDGEQ_TFLM_TREE].")
    verify_samples: int = option("--verify-samples", kind="int", minimum=1, metavar="N",
                                 default=DEFAULT_VERIFY_SAMPLES,
                                 help="Golden inputs to run on the emulated board with --verify.")
    allow_oversize: bool = option(
        "--allow-oversize", kind="flag", default=False,
        help="Quantize and write OUT even when the int8 weights alone exceed the target's flash (refused right "
             "after loading by default); the report then says by how much it does not fit.")


def check_options(options: ConvertOptions) -> TargetProfile:
    """Every rule between options (no file is read): the target profile they name, or a UsageError (or
    CalibrationError, for a mode that needs calibration data) naming the options."""
    from edgeq.check.targets import get_target

    problems = out_of_range(options)
    if problems:
        raise UsageError("; ".join(problems))
    for group, (switch, what) in GROUPS.items():
        given = changed(options, group=group)
        if given and getattr(options, switch) in (None, False):
            flags = ", ".join(e.spec.flag for e in given)
            raise UsageError(f"{flags}: {group} options apply only with {what}")
    target = get_target(options.target)
    if options.mode not in target.modes:
        raise UsageError(f"mode {options.mode} is not available for {target.name} "
                         f"({article(target.kind)} {target.kind} target); choose one of {', '.join(target.modes)}")
    if options.mode == "int16x8" and options.io_type == "uint8":
        raise UsageError("int16x8 models take int16 or float32 I/O, not uint8 (--io-type)")
    if options.runtime == "c" and options.mode != "int8":
        raise UsageError(f"--runtime c (the compiled-C engine) runs int8 models; --mode {options.mode} needs "
                         "--runtime tflm")
    if options.recover and options.mode != "int8":
        raise UsageError(f"--recover improves int8 conversions (int16x8 is its last resort): use it with --mode "
                         f"int8, not --mode {options.mode}")
    if options.calib is not None and options.synthetic_calib:
        raise UsageError("give either --calib or --synthetic-calib, not both")
    if options.calib is None and not options.synthetic_calib and options.mode in INTEGER_MODES:
        raise CalibrationError(f"mode {options.mode} needs calibration data: pass --calib FILE (.npy, .npz or an "
                               "image folder), or --synthetic-calib to use random data (not recommended)")
    return target


def check_up_front(model_path: Path, out_dir: Path, options: ConvertOptions) -> tuple[TargetProfile, str, list[str]]:
    """Every option combination and cheap fact, checked before TensorFlow loads: (target, project folder,
    warnings). The CLI and the Python API both pass through here."""
    from edgeq.emit import project_name, template_warnings
    from edgeq.emit.boards import machine_for
    from edgeq.staging import check_output_dir

    target = check_options(options)
    project = project_name(target, options.template, options.runtime)  # a bad --template fails here
    if options.verify:  # a target QEMU cannot emulate is refused first: no TFLM tree would help it
        from edgeq.emulate.tflm import find_tree
        from edgeq.emulate.tools import find_toolchain

        machine_for(target)
        if options.runtime == "tflm":  # without TFLM sources, say how to get them before any work
            find_tree(options.tflm_tree, cmsis_nn=target.runtime.kernels == "cmsis-nn")
        find_toolchain()
    if not model_path.exists():
        raise ModelLoadError(f"{model_path}: no such file or directory")
    model_file_size(model_path)  # not a device, FIFO or oversized file: refused before TensorFlow loads
    for path, what in ((options.calib, "calibration data"), (options.val, "validation data")):
        if path is not None and not Path(path).exists():
            raise CalibrationError(f"{what} {path}: no such file or directory")
        if path is not None:  # headers only: a forged or bombed sample file is refused before TensorFlow loads
            from edgeq.sample_files import check_sample_file  # numpy: not imported for --help

            check_sample_file(Path(path), f"{what} {path}")
    if options.recover:
        _check_recovery_samples(options)
    check_output_dir(out_dir, options.force, inputs=convert_inputs(model_path, options))
    return target, project, template_warnings(target, options.template, options.runtime)


def convert_inputs(model_path: Path, options: ConvertOptions) -> list[Path | None]:
    """The files a conversion reads (never to be replaced by its output)."""
    return [Path(model_path), options.calib, options.val]


def _check_recovery_samples(options: ConvertOptions) -> None:
    from edgeq.recover.search import MIN_SAMPLES

    if options.calib is None:  # --synthetic-calib draws as many as asked
        count, source = options.calib_samples or SYNTHETIC_SAMPLES, "--synthetic-calib draws"
    else:
        count, source = sample_count(Path(options.calib)), f"{options.calib} holds"
        if count is None:
            return  # not countable from its header: loading it says what is wrong, recovery then re-checks
        if options.calib_samples is not None and options.calib_samples < count:
            count, source = options.calib_samples, "--calib-samples takes"
    if count < MIN_SAMPLES:
        raise CalibrationError(f"--recover needs at least {MIN_SAMPLES} calibration samples (a quarter is held out "
                               f"to choose the technique); {source} {count}")


def sample_count(path: Path) -> int | None:
    """How many samples a calibration file or image folder holds, from .npy headers and file names alone
    (nothing is loaded); None when that cannot be told without reading the data."""
    import numpy as np

    from edgeq.samples import IMAGE_SUFFIXES

    def from_header(handle: object) -> int | None:
        try:
            version = np.lib.format.read_magic(handle)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, _ = read(handle)
        except (ValueError, OSError, EOFError, SyntaxError, TypeError):
            return None
        return int(shape[0]) if shape else None

    try:
        if path.is_dir():
            return sum(1 for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if path.suffix.lower() == ".npz" or zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                names = [n for n in archive.namelist() if n.endswith(".npy") and n != "y.npy"]
                member = "x.npy" if "x.npy" in names else (names[0] if names else None)
                if member is None:
                    return None
                with archive.open(member) as handle:
                    return from_header(handle)
        with path.open("rb") as handle:
            return from_header(handle)
    except (OSError, zipfile.BadZipFile, ValueError):
        return None
