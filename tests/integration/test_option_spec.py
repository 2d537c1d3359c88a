"""One option spec (issue 21): the CLI's options are built from the ConvertOptions/ValidationOptions fields, and
every rule between options is decided in edgeq.options before TensorFlow loads, for the CLI and the API alike."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import click
import numpy as np
import pytest

from edgeq.cli.options import options_from, spec_options
from edgeq.errors import UsageError
from edgeq.options import ConvertOptions, sample_count
from edgeq.optspec import entries, option, walk
from edgeq.samples import Preprocess
from edgeq.validate.gates import Thresholds
from edgeq.validate.options import ValidationOptions

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
MODEL, CALIB = str(EXAMPLES / "digits.keras"), str(EXAMPLES / "digits_calib.npz")


def _convert_command() -> click.Command:
    from edgeq.cli.app import cli

    return cli.commands["convert"]


def test_every_spec_entry_is_a_convert_option_with_the_fields_default():
    params = {p.name: p for p in _convert_command().params}
    for dest, entry in entries(ConvertOptions).items():
        param = params[dest]
        assert set(param.opts) == set(entry.spec.flags), dest
        if entry.spec.kind in ("flag", "off-flag"):
            assert param.is_flag and param.default is False, dest
        elif entry.spec.kind != "numbers":
            assert param.default == entry.default, dest
        assert param.help == entry.spec.help, dest
    spec_names = set(entries(ConvertOptions))
    extra = {p.name for p in _convert_command().params} - spec_names
    assert extra == {"model", "out_dir", "as_json", "quiet", "debug"}, extra  # nothing else beside the spec


def test_the_command_line_builds_the_options_the_api_takes():
    """Parse a command line through the generated click options and compare with ConvertOptions built by hand."""
    seen = {}

    @click.command()
    @spec_options(ConvertOptions)
    def command(**params):
        seen["options"] = options_from(ConvertOptions, params)

    command.main(["-t", "cortex-m7", "--calib", "c.npz", "--mean", "1/2,0.25", "--scale", "1/255", "--val",
                  "v.npz", "--min-accuracy", "0.9", "--max-drop", "off", "--no-layers", "--val-samples", "30",
                  "--recover", "--runtime", "c"], standalone_mode=False)
    expected_pre = Preprocess(scale=1 / 255, mean=(0.5, 0.25))
    validation = ValidationOptions(thresholds=Thresholds(min_accuracy=0.9, max_drop=None), samples=30,
                                   per_layer=False, preprocess=expected_pre)
    assert seen["options"] == ConvertOptions(target="cortex-m7", calib=Path("c.npz"), preprocess=expected_pre,
                                             val=Path("v.npz"), validation=validation, recover=True, runtime="c")
    command.main([], standalone_mode=False)
    assert seen["options"] == ConvertOptions()  # no flag: every default is the dataclass's


def test_a_new_option_is_one_field():
    """A field declared with option() becomes a click option, parsed into the dataclass, with no other code."""

    @dataclasses.dataclass
    class Future:
        level: int = option("--level", kind="int", minimum=1, default=3, help="How hard to try.")
        inner: Preprocess = dataclasses.field(default_factory=Preprocess, metadata={"edgeq.nested": True})

    seen = {}

    @click.command()
    @spec_options(Future)
    def command(**params):
        seen["value"] = options_from(Future, params)

    command.main(["--level", "5", "--std", "2"], standalone_mode=False)
    assert seen["value"] == Future(level=5, inner=Preprocess(std=(2.0,)))
    with pytest.raises(click.BadParameter):
        command.main(["--level", "0"], standalone_mode=False)
    assert [e.dest for e in walk(Future)] == ["level", "scale", "mean", "std", "channel_order"]


def test_defaults_live_in_one_place():
    import inspect

    from edgeq import emulate
    from edgeq.check.rules import check_model
    from edgeq.emit import RUNTIMES, emit_project
    from edgeq.options import DEFAULT_NAME, DEFAULT_TARGET, DEFAULT_VERIFY_SAMPLES
    from edgeq.quantize.converter import QuantizeOptions
    from edgeq.render import DEFAULT_NAME as RENDER_NAME

    # the lower layers' API defaults cannot import the spec above them: they must agree with it
    assert emulate.DEFAULT_SAMPLES == DEFAULT_VERIFY_SAMPLES == ConvertOptions().verify_samples
    assert RENDER_NAME == DEFAULT_NAME == ConvertOptions().name
    for function in (emit_project, check_model):
        assert inspect.signature(function).parameters["target"].default == DEFAULT_TARGET == ConvertOptions().target
    assert entries(ConvertOptions)["runtime"].spec.choices == RUNTIMES
    assert QuantizeOptions().mode == ConvertOptions().mode and QuantizeOptions().io_type == ConvertOptions().io_type
    from edgeq.check import targets
    from edgeq.quantize.modes import MODES

    assert targets._MODES == MODES  # the profile loader's own list (check may not import quantize)


# --- one up-front check, for the API too --------------------------------------------------------------------

@pytest.mark.parametrize(("options", "fragment"), [
    (ConvertOptions(calib=Path(CALIB), validation=ValidationOptions(per_layer=False)),
     "--no-layers: validation options apply only with --val"),
    (ConvertOptions(calib=Path(CALIB), validation=ValidationOptions(thresholds=Thresholds(min_accuracy=0.9),
                                                                    tflm_samples=5)),
     "--min-accuracy, --tflm-samples: validation options apply only with --val"),
    (ConvertOptions(calib=Path(CALIB), verify_samples=0), "--verify-samples must be at least 1, not 0"),
    (ConvertOptions(calib=Path(CALIB), runtime="rust"), "--runtime is one of tflm, c, not 'rust'"),
    (ConvertOptions(calib=Path(CALIB), recover=True, mode="int16x8"), "--recover improves int8 conversions"),
], ids=["no-layers", "gates", "verify-samples", "runtime", "recover-int16x8"])
def test_the_api_refuses_what_the_cli_refuses(tmp_path, monkeypatch, options, fragment):
    import edgeq.pipeline

    monkeypatch.setattr(edgeq.pipeline, "load_model", lambda *a, **k: pytest.fail("loaded before the refusal"))
    with pytest.raises(UsageError) as refused:
        edgeq.pipeline.convert(MODEL, tmp_path / "out", options)
    assert fragment in str(refused.value)
    assert not (tmp_path / "out").exists()


def test_refusals_leave_tensorflow_unloaded(tmp_path):
    """In a fresh process, each impossible combination is refused with TensorFlow never imported."""
    few = tmp_path / "few.npy"
    np.save(few, np.zeros((15, 8, 8, 1), np.float32))
    cases = [
        ["--recover", "--mode", "int16x8"],
        ["--recover", "--calib", str(few)],
        ["--target", "android-arm64", "--verify"],
        ["--target", "cortex-m0plus", "--verify"],
        ["--no-layers"],
        ["--mode", "float16"],  # not for a microcontroller
        ["--runtime", "c", "--mode", "int16x8"],
    ]
    code = ("import sys, json\nfrom edgeq.cli import main\nresults = []\n"
            f"for extra in {cases!r}:\n"
            f"    args = ['-q', 'convert', {MODEL!r}, '--calib', {CALIB!r}, '-o', {str(tmp_path / 'o')!r}, *extra]\n"
            "    try:\n        main(args)\n    except SystemExit as exc:\n        results.append(exc.code)\n"
            "print(json.dumps([results, sorted(m for m in sys.modules if m.split('.')[0] in "
            "('tensorflow', 'keras', 'tf_keras'))]))\n")
    env = {k: v for k, v in __import__("os").environ.items() if k != "EDGEQ_TFLM_TREE"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    import json

    codes, heavy = json.loads(done.stdout.strip().splitlines()[-1])
    assert codes == [2, 1, 1, 1, 2, 2, 2], done.stderr
    assert heavy == [], heavy
    assert "cannot be emulated" in done.stderr and "tflm-tree" not in done.stderr.lower()
    assert not (tmp_path / "o").exists()


def test_the_no_tree_message_cites_a_readme_section_that_exists():
    from edgeq.emulate.tflm import HOW_TO_GET

    cited = re.search(r'see README\.md, "([^"]+)"', HOW_TO_GET).group(1)
    headings = [line.lstrip("#").strip() for line in (REPO / "README.md").read_text().splitlines()
                if line.startswith("#")]
    assert cited in headings


def test_sample_count_reads_headers_only(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((37, 4), np.float32))
    np.savez(tmp_path / "b.npz", y=np.zeros(3), x=np.zeros((12, 2)))
    np.savez(tmp_path / "c.npz", image=np.zeros((9, 2)))
    (tmp_path / "imgs").mkdir()
    for i in range(4):
        (tmp_path / "imgs" / f"{i}.png").write_bytes(b"\x89PNG")  # counted by name: nothing is decoded
    (tmp_path / "imgs" / "notes.txt").write_text("not an image")
    (tmp_path / "bad.npy").write_bytes(b"not numpy at all")
    counts = [sample_count(tmp_path / n) for n in ("a.npy", "b.npz", "c.npz", "imgs", "bad.npy")]
    assert counts == [37, 12, 9, 4, None]
    with np.load(CALIB) as data:
        assert sample_count(Path(CALIB)) == len(data["x"])


def test_building_the_cli_from_the_spec_loads_no_numpy():
    """The spec's dataclasses are light: `edgeq --help` reads every option without numpy (or TensorFlow)."""
    code = "import sys, edgeq.cli; print(sorted(m for m in ('numpy', 'tensorflow', 'keras') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stdout
