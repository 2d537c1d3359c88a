// DECLARATION-ONLY SHIM FOR edgeq's COMPILE TESTS -- not LiteRT (see README.md here).
// org.tensorflow.lite.Interpreter as LiteRT's Android package declares it
// (litert/kotlin/src/copied_from_tflite/java/org/tensorflow/lite/Interpreter.java, InterpreterApi.java):
// the constructor, Options.setNumThreads, runForMultipleInputsOutputs and close the generated class calls.
package org.tensorflow.lite

import java.io.Closeable
import java.nio.ByteBuffer

@Suppress("UNUSED_PARAMETER")
class Interpreter(byteBuffer: ByteBuffer, options: Options?) : Closeable {
    class Options {
        fun setNumThreads(numThreads: Int): Options = this
    }

    fun runForMultipleInputsOutputs(inputs: Array<Any>, outputs: Map<Int, Any>) {
        throw UnsupportedOperationException("shim")
    }

    override fun close() {}
}
