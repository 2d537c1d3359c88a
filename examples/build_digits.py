"""Build the bundled example: a small CNN on scikit-learn's 8x8 digits (shipped with scikit-learn, offline).

Writes digits.keras, digits_calib.npz (x: 200 training images) and digits_val.npz (x, y: held-out images)
next to this script. Run: .venv/bin/python examples/build_digits.py  (needs `pip install scikit-learn`).
The committed files are the reference; rebuilding gives a model of the same shape and similar accuracy.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
SEED = 1234


def main() -> None:
    import keras
    from sklearn.datasets import load_digits

    keras.utils.set_random_seed(SEED)
    digits = load_digits()
    x = (digits.images.astype(np.float32) / 16.0)[..., None]  # [N, 8, 8, 1] in [0, 1]
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(SEED).permutation(len(x))
    x, y = x[order], y[order]
    x_train, y_train, x_val, y_val = x[:1400], y[:1400], x[1400:], y[1400:]

    model = keras.Sequential([
        keras.Input(shape=(8, 8, 1), name="image"),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1"),
        keras.layers.DepthwiseConv2D(3, padding="same", activation="relu", name="dwconv"),
        keras.layers.Conv2D(24, 1, activation="relu", name="pwconv"),
        keras.layers.MaxPooling2D(2, name="pool"),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(32, activation="relu", name="fc1"),
        keras.layers.Dense(10, activation="softmax", name="probs"),
    ], name="digits_cnn")
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=25, batch_size=32, verbose=0, shuffle=True)
    loss, accuracy = model.evaluate(x_val, y_val, verbose=0)
    print(f"validation accuracy {accuracy:.4f} on {len(x_val)} images")

    model.save(HERE / "digits.keras")
    np.savez_compressed(HERE / "digits_calib.npz", x=x_train[:200])
    np.savez_compressed(HERE / "digits_val.npz", x=x_val, y=y_val)


if __name__ == "__main__":
    main()
