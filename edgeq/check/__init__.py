"""Step 4, check: target profiles, the TFLM op table, the measured arena, MACs and latency, the fit rules, inspect.

May import: the low layer (tflite, errors, resources); never Keras or TensorFlow.
"""
