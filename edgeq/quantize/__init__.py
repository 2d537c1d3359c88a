"""Step 2, quantize: TFLiteConverter settings per mode, calibration, and the proof that no float op is left.

May import: load and the low layer.
"""
