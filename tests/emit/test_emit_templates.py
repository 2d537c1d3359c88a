"""Templates: registry and selection, strict rendering, golden files, byte-identical re-emission, and the
golden vector / model bytes the projects carry."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import jinja2
import jinja2.meta
import numpy as np
import pytest

from edgeq.check.targets import available_targets, get_target
from edgeq.emit import emit_project, project_context, select_template, write_project
from edgeq.emit.project import CONTEXTS, project_templates
from edgeq.errors import EmitError, UsageError
from edgeq.render import environment, render
from edgeq.resources import templates_dir
from edgeq.templates import SHARED_DIR, default_template, engine_template, registry, sdk_keys
from edgeq.tflite.runners import TFLMRunner

TEMPLATES = project_templates()

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
GOLDEN_CASES = {name: info.test_target for name, info in TEMPLATES.items()}  # the golden project's target
# Variables a template gets from the template that includes it ({% set %} before {% include %}).
SET_BY_INCLUDER = {"readme_common.md.j2": {"timer_unit"}}


def all_template_files() -> list[Path]:
    """The files of edgeq emit's templates and of the shared sources."""
    return sorted(p for name in (*TEMPLATES, SHARED_DIR) for p in (templates_dir() / name).rglob("*.j2"))


def test_registry_matches_the_template_directories() -> None:
    on_disk = {p.name for p in templates_dir().iterdir() if p.is_dir()}
    assert set(TEMPLATES) | {SHARED_DIR} <= on_disk
    assert {p.name for p in GOLDEN_DIR.iterdir() if p.is_dir()} == set(TEMPLATES), "a template without golden files"
    assert engine_template().name not in TEMPLATES and engine_template().runtime == "c"


def test_manifests_name_what_edgeq_provides() -> None:
    """Every context builder, SDK key and test target a manifest names exists; profiles use only declared keys."""
    for info in registry().values():
        assert set(info.context) <= set(CONTEXTS), info.name
        assert info.test_target in available_targets(), info.name
    used = {key for profile in available_targets().values() for key in profile.sdk}
    assert used <= set(sdk_keys()) and {"zephyr_board", "arduino_fqbn", "idf_target"} <= set(sdk_keys())
    assert default_template("mcu").name == "tflm-cmake" and default_template("android").name == "android"


def test_a_manifest_must_list_its_files(tmp_path, monkeypatch) -> None:
    """A .j2 the manifest does not list (or a listed one that is missing) is an error naming the file."""
    from edgeq import templates

    root = tmp_path / "firmware_templates"
    shutil.copytree(templates_dir() / "zephyr", root / "zephyr")
    (root / "zephyr" / "extra.txt.j2").write_text("x")
    monkeypatch.setattr(templates, "templates_dir", lambda: root)
    with pytest.raises(EmitError, match=r"zephyr/template.toml: files must list .*not listed: extra.txt.j2"):
        templates._manifest("zephyr")
    (root / "zephyr" / "extra.txt.j2").unlink()
    (root / "zephyr" / "prj.conf.j2").unlink()
    with pytest.raises(EmitError, match="listed but missing: prj.conf.j2"):
        templates._manifest("zephyr")
    (root / "zephyr" / "prj.conf.j2").write_text("x")
    manifest = root / "zephyr" / "template.toml"
    manifest.write_text(manifest.read_text() + 'colour = "red"\n')
    with pytest.raises(EmitError, match="zephyr/template.toml: unknown key.s. colour"):
        templates._manifest("zephyr")


def test_every_target_has_a_usable_default_template() -> None:
    for name, profile in available_targets().items():
        info = select_template(profile, None)
        assert info.name == (profile.default_template or info.name), name


def test_incompatible_choices_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="android"):
        select_template(get_target("android-arm64"), "tflm-cmake")
    with pytest.raises(UsageError, match="known templates"):
        select_template(get_target("cortex-m4"), "makefile")
    with pytest.raises(UsageError, match="esp-idf builds for xtensa chips, and cortex-m4's CPU is armv7e-m"):
        select_template(get_target("cortex-m4"), "esp-idf")
    assert select_template(get_target("android-arm64"), None).name == "android"
    assert select_template(get_target("cortex-m4"), None).name == "tflm-cmake"


@pytest.mark.parametrize("template", all_template_files(), ids=lambda p: p.relative_to(templates_dir()).as_posix())
def test_templates_use_only_defined_variables(template: Path, tiny_int8) -> None:
    """Static check (covers branches a rendering does not take): every variable a template reads exists."""
    info = TEMPLATES["tflm-cmake"] if template.parent.name == SHARED_DIR else \
        TEMPLATES[template.relative_to(templates_dir()).parts[0]]
    context = project_context(tiny_int8, get_target(info.test_target), info, "tiny")
    undeclared = jinja2.meta.find_undeclared_variables(environment().parse(template.read_text()))
    missing = undeclared - set(context) - SET_BY_INCLUDER.get(template.name, set())
    assert not missing, f"{template.name} reads undefined variables {sorted(missing)}"


def test_rendering_fails_on_an_undefined_variable(tiny_int8) -> None:
    context = project_context(tiny_int8, get_target("cortex-m4"), TEMPLATES["tflm-cmake"], "tiny")
    render("_sources/model_io.h.j2", context)
    for key in ("arena", "NAME", "inputs"):
        broken = {k: v for k, v in context.items() if k != key}
        with pytest.raises(EmitError, match="undefined"):
            render("_sources/model_io.h.j2", broken)
    broken = dict(context, arena={"size": 1})  # an attribute missing deeper down
    with pytest.raises(EmitError, match="description"):
        render("_sources/model_io.h.j2", broken)
    assert environment().undefined is jinja2.StrictUndefined


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("template", sorted(GOLDEN_CASES))
def test_golden_files(tmp_path, tiny_int8, update_golden, template: str) -> None:
    """The emitted project equals tests/emit/golden/<template>/ byte for byte (text files; the .tflite asset
    must equal the model). Regenerate with `pytest --update-golden` after an intended change."""
    out = tmp_path / template
    write_project(tiny_int8, out, target=get_target(GOLDEN_CASES[template]), template=template, name="tiny")
    produced = _tree(out)
    binaries = {k: v for k, v in produced.items() if k.endswith(".tflite")}
    assert all(v == tiny_int8.data for v in binaries.values())
    texts = {k: v for k, v in produced.items() if k not in binaries}
    golden = GOLDEN_DIR / template
    if update_golden:
        shutil.rmtree(golden, ignore_errors=True)
        for relative, content in texts.items():
            (golden / relative).parent.mkdir(parents=True, exist_ok=True)
            (golden / relative).write_bytes(content)
    expected = _tree(golden)
    assert sorted(texts) == sorted(expected), "files differ from the golden project (pytest --update-golden?)"
    for relative, content in texts.items():
        assert content.decode() == expected[relative].decode(), f"{template}/{relative} differs from its golden file"


def test_re_emission_is_byte_identical(tmp_path, tiny_float_io) -> None:
    for template, target in GOLDEN_CASES.items():
        first = emit_project(tiny_float_io, tmp_path / f"{template}-1", target=target, template=template, name="m")
        second = emit_project(tiny_float_io, tmp_path / f"{template}-2", target=target, template=template, name="m")
        assert first.files == second.files
        assert _tree(tmp_path / f"{template}-1") == _tree(tmp_path / f"{template}-2")
        for content in _tree(tmp_path / f"{template}-1").values():
            assert str(tmp_path).encode() not in content, "no absolute paths in generated files"


def test_emit_refuses_to_overwrite_and_force_replaces_only_its_own_output(tmp_path, tiny_int8) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("user file")
    from edgeq.errors import OutputExistsError

    with pytest.raises(OutputExistsError, match="use --force"):
        emit_project(tiny_int8, out, target="cortex-m4")
    with pytest.raises(OutputExistsError, match="not an edgeq output"):
        emit_project(tiny_int8, out, target="cortex-m4", force=True)
    assert (out / "keep.txt").read_text() == "user file"
    (out / "keep.txt").unlink()
    emit_project(tiny_int8, out, target="cortex-m4", force=True)  # an empty folder
    first = (out / "src" / "model_io.h").read_bytes()
    emit_project(tiny_int8, out, target="cortex-m4", template="zephyr", force=True)  # its own earlier output
    assert (out / "src" / "main.cc").exists() and not (out / "cmake").exists() and first


def _arrays(header: str) -> list[np.ndarray]:
    """The kData initializers of model_test_data.h, in order (inputs first, then outputs)."""
    blocks = re.findall(r"kData\[\d+\] = \{(.*?)\};", header, re.DOTALL)
    return [np.array([float(v.rstrip("f")) for v in re.findall(r"-?[0-9.e+-]+f?", b)]) for b in blocks]


def test_golden_vector_is_what_tflm_computes(tmp_path, digits_int8) -> None:
    """model_test_data.h holds an input and exactly the output the host TFLM interpreter gives for it."""
    write_project(digits_int8, tmp_path, target=get_target("cortex-m4"), template="tflm-cmake", name="digits")
    header = (tmp_path / "src" / "model_test_data.h").read_text()
    x, expected = _arrays(header)
    assert x.size == 64 and expected.size == 10
    (y,) = TFLMRunner(digits_int8).run([x.astype(np.int8).reshape(1, 8, 8, 1)])
    np.testing.assert_array_equal(y.reshape(-1), expected.astype(np.int8))
    assert "#define DIGITS_OUTPUT0_TOLERANCE 1" in header


def test_float_io_tolerance_is_one_quantization_step(tmp_path, tiny_float_io) -> None:
    write_project(tiny_float_io, tmp_path, target=get_target("cortex-m4"), template="zephyr", name="tiny")
    header = (tmp_path / "src" / "model_test_data.h").read_text()
    assert "#define TINY_OUTPUT0_TOLERANCE 0.00391015643f" in header  # 1/256 * 1.001 (softmax output step)
    assert "#define TINY_OUTPUT1_TOLERANCE 0.250250012f" in header
    io = (tmp_path / "src" / "model_io.h").read_text()
    assert "typedef float tiny_input0_t;" in io and "#define TINY_INPUT0_QUANTIZED 0" in io


def test_convert_writes_the_project_and_the_array_round_trips(digits_convert_dir) -> None:
    out, result = digits_convert_dir
    model = (out / "model.tflite").read_bytes()
    project = out / "tflm-cmake"
    source = (project / "src" / "model_data.cc").read_text()
    body = source[source.index("model_data[] MODEL_MODEL_DATA_ATTRIBUTE = {"):source.index("};")]
    assert bytes(int(h, 16) for h in re.findall(r"0x([0-9a-f]{2})", body)) == model
    assert f"model_data_len = {len(model)}u;" in source
    header = (project / "src" / "model_data.h").read_text()
    assert f'#define MODEL_MODEL_SHA256 "{result.tflite.sha256}"' in header
    assert re.search(r"alignas\(16\) const unsigned char model_model_data\[\]", source)
    assert result.report["project"]["dir"] == "tflm-cmake"
    assert "src/main.cc" in result.report["project"]["files"]
    arena = int(re.search(r"#define MODEL_ARENA_SIZE (\d+)u", (project / "src" / "model_io.h").read_text())[1])
    assert arena == result.report["project"]["arena_bytes"] and arena % 16 == 0


def test_android_module(tmp_path, tiny_int8) -> None:
    write_project(tiny_int8, tmp_path, target=get_target("android-arm64"), name="kws")
    kotlin = (tmp_path / "src/main/kotlin/edgeq/generated/kws/KwsModel.kt").read_text()
    assert "package edgeq.generated.kws" in kotlin and "import org.tensorflow.lite.Interpreter" in kotlin
    assert "const val INPUT0_SCALE = 0.0500000007f" in kotlin and "const val INPUT0_ZERO_POINT = -3" in kotlin
    assert "fun run(input0: FloatArray): List<FloatArray>" in kotlin
    assert (tmp_path / "src/main/assets/kws.tflite").read_bytes() == tiny_int8.data
    gradle = (tmp_path / "build.gradle.kts").read_text()
    assert 'implementation("com.google.ai.edge.litert:litert:' in gradle and "noCompress" not in gradle
    assert "implementation(" in (tmp_path / "README.md").read_text()


@pytest.fixture
def extra_template(tmp_path, monkeypatch):
    """firmware_templates/ plus one new template folder, `minimal-make`, as a user of edgeq would add it."""
    from edgeq import render, resources, templates

    root = tmp_path / "firmware_templates"
    shutil.copytree(templates_dir(), root)
    new = root / "minimal-make"
    (new / "app").mkdir(parents=True)
    (new / "template.toml").write_text(
        'description = "A Makefile project around the shared sources"\nkinds = ["mcu"]\nruntime = "tflm"\n'
        'files = ["Makefile.j2", "app/main.cc.j2"]\nmain = "app/main.cc"\nsources_dir = "app"\n'
        'sdk = { make_board = "the BOARD= a Makefile takes" }\ncontext = ["qemu"]\n'
        'test_target = "cortex-m4"\n[values]\ngreeting = "hello"\n', encoding="utf-8")
    (new / "Makefile.j2").write_text("# {{ greeting }} {{ name }} for {{ target.core }} ({{ target.make_board }})\n"
                                     "# QEMU: {{ qemu.machine if qemu else 'none' }}\n", encoding="utf-8")
    (new / "app" / "main.cc.j2").write_text('#include "model_data.h"\nint main() { return 0; }\n', encoding="utf-8")
    for module in (render, resources, templates):
        monkeypatch.setattr(module, "templates_dir", lambda: root)
    for cached in (render.environment, templates.registry, templates.shared_sources):
        cached.cache_clear()
    yield new
    for cached in (render.environment, templates.registry, templates.shared_sources):
        cached.cache_clear()


def test_a_new_template_is_a_folder(extra_template, tmp_path, tiny_int8) -> None:
    """No edgeq code names a template: a folder with its manifest is registered, selected and rendered with the
    shared sources, its fixed values, its context builder and its [sdk] key."""
    assert "minimal-make" in project_templates()
    result = write_project(tiny_int8, tmp_path / "out", target=get_target("cortex-m4"), template="minimal-make",
                           name="tiny")
    assert {"Makefile", "app/main.cc", "app/model_data.cc", "app/model_ops.h", "app/model_io.h"} <= set(result.files)
    assert (tmp_path / "out" / "Makefile").read_text() == "# hello tiny for cortex-m4 ()\n# QEMU: mps2-an386\n"
