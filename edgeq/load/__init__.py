"""Step 1, load: a trained model (.keras in safe mode, legacy Keras 2 .h5, SavedModel directory) as a LoadedModel.

May import: the low layer (errors, tfenv, tflite, samples).
"""
