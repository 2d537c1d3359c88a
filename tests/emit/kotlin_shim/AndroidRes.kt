// DECLARATION-ONLY SHIM FOR edgeq's COMPILE TESTS -- not the Android SDK (see README.md here).
// AssetManager.openFd and the AssetFileDescriptor getters, declared as the properties Kotlin sees them as.
package android.content.res

import java.io.Closeable
import java.io.FileDescriptor

abstract class AssetManager {
    abstract fun openFd(fileName: String): AssetFileDescriptor
}

abstract class AssetFileDescriptor : Closeable {
    abstract val fileDescriptor: FileDescriptor
    abstract val startOffset: Long
    abstract val declaredLength: Long
}
