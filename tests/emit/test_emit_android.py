"""The Android module: a Gradle file AGP 9 accepts, and the generated Kotlin class compiled with Debian's kotlinc
(against kotlin_shim/) with its quantize/dequantize helpers run on the host and compared with TFLite's own
QUANTIZE/DEQUANTIZE (LiteRT's reference kernels, the ones that round with std::round)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from emit_models import build_single_op_model

from edgeq.check.targets import get_target
from edgeq.emit import write_project
from edgeq.templates import registry
from edgeq.tflite import read_model
from edgeq.tflite.runners import LiteRTRunner

LITERT = registry()["android"].values["kotlin"]  # the versions the android manifest pins
ANDROID_MIN_SDK, LITERT_DEPENDENCY = LITERT["min_sdk"], LITERT["litert_dependency"]

KOTLIN_SHIM = Path(__file__).resolve().parent / "kotlin_shim"
# (input dtype, (scale, zero point)), (output dtype, (scale, zero point)) of each test model's I/O
CASES = [
    ("int8", (1.0, 0), "int8", (0.25, 10)),
    ("int8", (0.05, -3), "int8", (1.0 / 256, -128)),
    ("uint8", (0.5, 128), "uint8", (0.1, 0)),
    ("int16", (1.0 / 3, 0), "int16", (0.001, 0)),
]
RANGES = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767)}


def _module(tmp_path: Path, model_bytes: bytes, name: str) -> Path:
    out = tmp_path / name
    write_project(read_model(model_bytes), out, target=get_target("android-arm64"), template="android", name=name)
    return out


def test_gradle_module_is_what_agp9_accepts(tmp_path) -> None:
    """AGP 9 refuses org.jetbrains.kotlin.android (built-in Kotlin) and the kotlinOptions DSL; the LiteRT
    dependency and minSdk agree; no redundant noCompress."""
    module = _module(tmp_path, build_single_op_model("RESHAPE", "int8", "int8", 4, (1.0, 0), (1.0, 0)), "m")
    gradle = (module / "build.gradle.kts").read_text()
    code = "\n".join(line.split("//")[0] for line in gradle.splitlines())  # comments may name the plugin
    plugins = re.search(r"^plugins\s*\{(.*?)^\}", code, re.DOTALL | re.MULTILINE)
    assert plugins is not None
    assert re.findall(r'id\("([^"]+)"\)', plugins.group(1)) == ["com.android.library"]
    for rejected in ("org.jetbrains.kotlin.android", "kotlin-android", "kotlinOptions", "noCompress"):
        assert rejected not in code, rejected
    assert f'implementation("{LITERT_DEPENDENCY}")' in code
    assert re.search(rf"^\s*minSdk = {ANDROID_MIN_SDK}$", code, re.MULTILINE)
    assert "jvmTarget.set(JvmTarget.JVM_17)" in code and "import org.jetbrains.kotlin.gradle.dsl.JvmTarget" in code


def _harness(classes: list[str]) -> str:
    """A main() that answers 'case q <float bits hex>' with quantizeInput0 and 'case d <int>' with the bits of
    dequantizeOutput0, one line each."""
    quantize = "\n".join(f'            "{i}" -> {c}.quantizeInput0(x).toString()' for i, c in enumerate(classes))
    dequantize = "\n".join(f'            "{i}" -> {c}.dequantizeOutput0(q).toRawBits().toString()'
                           for i, c in enumerate(classes))
    return f"""import java.io.File

fun quantize(case: String, x: Float): String =
    when (case) {{
{quantize}
            else -> throw IllegalArgumentException(case)
    }}

fun dequantize(case: String, q: Int): String =
    when (case) {{
{dequantize}
            else -> throw IllegalArgumentException(case)
    }}

fun main(args: Array<String>) {{
    val out = StringBuilder()
    File(args[0]).forEachLine {{ line ->
        val parts = line.split(" ")
        if (parts[1] == "q") {{
            out.append(quantize(parts[0], Float.fromBits(java.lang.Long.parseLong(parts[2], 16).toInt())))
        }} else {{
            out.append(dequantize(parts[0], parts[2].toInt()))
        }}
        out.append('\\n')
    }}
    print(out)
}}
"""


@pytest.fixture(scope="module")
def kotlin_helpers(tmp_path_factory):
    """The generated Kotlin classes of CASES compiled (with -Werror) and a function running their helpers."""
    tools = {name: shutil.which(name) for name in ("kotlinc", "java")}
    assert all(tools.values()), "this test needs kotlinc and java (apt install kotlin)"
    tmp = tmp_path_factory.mktemp("kotlin")
    sources, classes = [], []
    for i, (in_dtype, in_q, out_dtype, out_q) in enumerate(CASES):
        module = _module(tmp, build_single_op_model("RESHAPE", in_dtype, out_dtype, 4, in_q, out_q), f"case{i}")
        sources += sorted(module.rglob("*.kt"))
        classes.append(f"edgeq.generated.case{i}.Case{i}Model")
    # also compiled (for -Werror): unquantized integer and float I/O, which take other branches of the template
    for i, dtype in enumerate(("int16", "int32", "float32")):
        module = _module(tmp, build_single_op_model("RESHAPE", dtype, dtype, 4), f"plain{i}")
        sources += sorted(module.rglob("*.kt"))
    (tmp / "Harness.kt").write_text(_harness(classes))
    jar = tmp / "helpers.jar"
    compiled = subprocess.run([tools["kotlinc"], "-Werror", *map(str, sources), *map(str, KOTLIN_SHIM.glob("*.kt")),
                               str(tmp / "Harness.kt"), "-include-runtime", "-d", str(jar)],
                              capture_output=True, text=True, check=False)
    assert compiled.returncode == 0, compiled.stderr

    def run(lines: list[str]) -> list[str]:
        requests = tmp / "requests.txt"
        requests.write_text("\n".join(lines) + "\n")
        ran = subprocess.run([tools["java"], "-cp", str(jar), "HarnessKt", str(requests)],
                             capture_output=True, text=True, check=True)
        return ran.stdout.split()

    return run


def _edge_values(scale: float, zero_point: int, qmin: int, qmax: int) -> np.ndarray:
    """Real values whose scaled value is an exact or near half step, steps on both sides of zero, the ends of the
    range and beyond, and a seeded sweep: float32."""
    f32 = np.float32
    ties = np.array([(k + 0.5) * scale for k in range(-6, 6)], dtype=f32)
    near = np.concatenate([np.nextafter(ties, f32(np.inf)), np.nextafter(ties, f32(-np.inf))])
    below_half = np.array([0.49999997 * scale, -0.49999997 * scale, 1.4999999 * scale, -2.4999998 * scale], f32)
    ends = np.array([(q - zero_point) * scale for q in (qmin - 2, qmin, qmax, qmax + 2)], dtype=f32)
    sweep = np.random.default_rng(16).uniform((qmin - zero_point - 8) * scale, (qmax - zero_point + 8) * scale, 3000)
    return np.concatenate([ties, near, below_half, ends, [0.0, -0.0], sweep.astype(f32)]).astype(f32)


@pytest.mark.parametrize("case", range(len(CASES)))
def test_kotlin_quantize_equals_tflite_quantize(kotlin_helpers, case: int) -> None:
    in_dtype, (scale, zp), _, _ = CASES[case]
    qmin, qmax = RANGES[in_dtype]
    x = _edge_values(scale, zp, qmin, qmax)
    quantize = read_model(build_single_op_model("QUANTIZE", "float32", in_dtype, x.size, None, (scale, zp)))
    (expected,) = LiteRTRunner(quantize).run([x.reshape(1, -1)])
    got = kotlin_helpers([f"{case} q {v.view(np.uint32):08x}" for v in x])
    np.testing.assert_array_equal(np.array(got, dtype=np.int64), expected.reshape(-1).astype(np.int64))


@pytest.mark.parametrize("case", range(len(CASES)))
def test_kotlin_dequantize_equals_tflite_dequantize(kotlin_helpers, case: int) -> None:
    _, _, out_dtype, (scale, zp) = CASES[case]
    qmin, qmax = RANGES[out_dtype]
    q = np.arange(qmin, qmax + 1)
    dequantize = read_model(build_single_op_model("DEQUANTIZE", out_dtype, "float32", q.size, (scale, zp), None))
    (expected,) = LiteRTRunner(dequantize).run([q.reshape(1, -1)])
    got = kotlin_helpers([f"{case} d {v}" for v in q])
    np.testing.assert_array_equal(np.array(got, dtype=np.int64).astype(np.uint32).view(np.float32),
                                  expected.reshape(-1))


def test_kotlin_quantize_saturates_and_rounds_ties_away_from_zero(kotlin_helpers) -> None:
    """Beyond what TFLite defines (a float beyond int32 is undefined behaviour in its cast): -1e10 saturates to
    the lowest value, +-inf to the ends, NaN gives the zero point; and the values `x + 0.5f` gets wrong."""
    values = {  # (case, value) -> expected; case 0: scale 1, zero point 0; case 1: scale 0.05, zero point -3
        (0, 0.49999997): 0, (0, -0.49999997): 0, (0, 2.5): 3, (0, -2.5): -3, (0, 1e10): 127, (0, -1e10): -128,
        (1, -1e10): -128, (1, 1e10): 127, (1, float("inf")): 127, (1, float("-inf")): -128, (1, float("nan")): -3,
        (2, -1e10): 0, (2, 1e10): 255, (3, 1e10): 32767, (3, -1e10): -32768,
    }
    lines = [f"{case} q {np.float32(v).view(np.uint32):08x}" for case, v in values]
    assert [int(g) for g in kotlin_helpers(lines)] == list(values.values())
