"""Reading .tflite files through the official TFLite flatbuffer schema module."""

from edgeq.tflite.reader import Operator, Quantization, Subgraph, Tensor, TFLiteModel, read_model

__all__ = ["Operator", "Quantization", "Subgraph", "Tensor", "TFLiteModel", "read_model"]
