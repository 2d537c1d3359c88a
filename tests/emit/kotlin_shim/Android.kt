// DECLARATION-ONLY SHIM FOR edgeq's COMPILE TESTS -- not the Android SDK (see README.md here).
// The member of android.content.Context the generated Kotlin class uses; the SDK's Java getter getAssets() is
// declared as the property Kotlin sees it as. Nothing here works.
package android.content

import android.content.res.AssetManager

abstract class Context {
    abstract val assets: AssetManager
}
