"""The generated Kotlin class's run() on the host JVM, end to end through its ByteBuffers: uint8 outputs of 128
and more must dequantize to positive values (a signed byte read without `and 0xFF` turns 200 into -56).

The model is a uint8 RESHAPE, so what LiteRT computes is a copy of the input bytes (checked here with LiteRT);
the stand-in Interpreter below does exactly that copy, and the Android asset is a real file opened through
kotlin_shim's abstract Context/AssetManager."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
from emit_models import build_single_op_model

from edgeq.check.targets import get_target
from edgeq.emit import write_project
from edgeq.tflite import read_model
from edgeq.tflite.runners import LiteRTRunner

KOTLIN_SHIM = Path(__file__).resolve().parent / "kotlin_shim"
IN_Q, OUT_Q = (0.5, 128), (0.1, 0)
VALUES = [50.0, -64.0, 0.0, 63.5, 36.0, -0.5]  # quantized: 228, 0, 128, 255, 200, 127

RUNNING_INTERPRETER = """\
// edgeq TEST STAND-IN -- not LiteRT: runs a RESHAPE (output 0 = the bytes of input 0), which is what LiteRT
// computes for the test's model.
package org.tensorflow.lite

import java.io.Closeable
import java.nio.ByteBuffer

class Interpreter(private val model: ByteBuffer, options: Options?) : Closeable {
    class Options {
        fun setNumThreads(numThreads: Int): Options = this
    }

    fun runForMultipleInputsOutputs(inputs: Array<Any>, outputs: Map<Int, Any>) {
        require(model.capacity() > 0 && inputs.size == 1 && outputs.size == 1)
        val input = (inputs[0] as ByteBuffer).duplicate()
        input.rewind()
        val output = outputs.getValue(0) as ByteBuffer
        output.rewind()
        output.put(input)
        output.rewind()
    }

    override fun close() {}
}
"""

HARNESS = """\
import android.content.Context
import android.content.res.AssetFileDescriptor
import android.content.res.AssetManager
import edgeq.generated.u8.U8Model
import java.io.File
import java.io.FileDescriptor
import java.io.FileInputStream

class FileAssets(private val dir: File) : AssetManager() {
    override fun openFd(fileName: String): AssetFileDescriptor {
        val file = File(dir, fileName)
        val stream = FileInputStream(file)
        return object : AssetFileDescriptor() {
            override val fileDescriptor: FileDescriptor = stream.fd
            override val startOffset: Long = 0L
            override val declaredLength: Long = file.length()
            override fun close() = stream.close()
        }
    }
}

class FileContext(dir: File) : Context() {
    override val assets: AssetManager = FileAssets(dir)
}

fun main(args: Array<String>) {
    val values = args.drop(1).map { it.toFloat() }.toFloatArray()
    U8Model(FileContext(File(args[0]))).use { model ->
        println(model.run(values)[0].joinToString(" ") { it.toRawBits().toString() })
    }
}
"""


def test_kotlin_run_dequantizes_uint8_outputs_above_127_as_positive(tmp_path) -> None:
    tools = {name: shutil.which(name) for name in ("kotlinc", "java")}
    assert all(tools.values()), "this test needs kotlinc and java (apt install kotlin)"
    data = build_single_op_model("RESHAPE", "uint8", "uint8", len(VALUES), IN_Q, OUT_Q)
    module = tmp_path / "module"
    write_project(read_model(data), module, target=get_target("android-arm64"), template="android", name="u8")

    quantized = np.array([[round(v / IN_Q[0]) + IN_Q[1] for v in VALUES]], dtype=np.uint8)
    assert quantized.tolist() == [[228, 0, 128, 255, 200, 127]]
    (raw,) = LiteRTRunner(read_model(data)).run([quantized])
    np.testing.assert_array_equal(raw, quantized)  # the model is the copy the stand-in does
    want = (raw.reshape(-1).astype(np.float32) - np.float32(OUT_Q[1])) * np.float32(OUT_Q[0])

    (tmp_path / "Interpreter.kt").write_text(RUNNING_INTERPRETER)
    (tmp_path / "Harness.kt").write_text(HARNESS)
    sources = [*sorted(module.rglob("*.kt")), *(p for p in sorted(KOTLIN_SHIM.glob("*.kt")) if p.name != "LiteRT.kt"),
               tmp_path / "Interpreter.kt", tmp_path / "Harness.kt"]
    jar = tmp_path / "run.jar"
    compiled = subprocess.run([tools["kotlinc"], *map(str, sources), "-include-runtime", "-d", str(jar)],
                              capture_output=True, text=True, check=False)
    assert compiled.returncode == 0, compiled.stderr
    assets = module / "src" / "main" / "assets"
    ran = subprocess.run([tools["java"], "-cp", str(jar), "HarnessKt", str(assets), *map(str, VALUES)],
                         capture_output=True, text=True, check=True)
    got = np.array([int(b) for b in ran.stdout.split()], dtype=np.int64).astype(np.uint32).view(np.float32)
    np.testing.assert_array_equal(got, want)
    assert (got[[0, 3, 4]] > 12.7).all() and got[1] == 0.0  # 228, 255 and 200 stay positive
