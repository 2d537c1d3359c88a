"""Step 3, validate: float model vs LiteRT vs the TFLM host interpreter on the same samples.

session (the run), options (ValidationOptions: the CLI's options as fields), data (streamed samples), metrics
(running statistics), layers (per-layer error), report (ValidationReport, gates, terminal tables), html and junit
(the files CI keeps).
May import: load, quantize and the low layer.
"""
