"""The weight-level rewrite of an int8 flatbuffer: the compressed model and its uncompressed equivalent.

The equivalent is an ordinary int8 model holding exactly the values the compressed one decodes to (clustered,
or int4-valued); every runtime can run it, and TFLM must give the compressed model's outputs on it bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgeq.compress import flatbuffer, int4, lut, share
from edgeq.compress.options import Technique
from edgeq.errors import CompressionError
from edgeq.tflite.schema import schema


@dataclass(frozen=True)
class TensorChange:
    """One rewritten weight tensor: how it is stored before and after."""

    name: str
    op: str
    technique: str
    elements: int
    channels: int
    bytes_before: int
    bytes_after: int  # the stored bytes: packed indices + ancillary data for LUT, packed nibbles for int4

    def to_dict(self) -> dict[str, Any]:
        return {"tensor": self.name, "op": self.op, "technique": self.technique, "elements": self.elements,
                "channels": self.channels, "bytes_before": self.bytes_before, "bytes_after": self.bytes_after}


@dataclass(frozen=True)
class Rewritten:
    """The compressed flatbuffer, the equivalent int8 flatbuffer, and what changed."""

    model: bytes
    equivalent: bytes
    tensors: tuple[TensorChange, ...]
    skipped: tuple[tuple[str, str], ...]  # (tensor, why it was left as it is)


# Flatbuffer bytes a TFLM_DECODE op adds besides the encoded data: the decoded and ancillary tensors (their names
# are the filter's plus "_decoded" / "_ancillary"), two buffers with 16-byte alignment, the operator entry.
DECODE_FIXED_BYTES = 160


def decode_overhead(name: str) -> int:
    """About what one TFLM_DECODE op costs in the flatbuffer, beyond its indices and tables."""
    return DECODE_FIXED_BYTES + 2 * len(name.encode()) + len("_decoded_ancillary")


def _cluster(data: bytes, bits: int) -> Rewritten:
    equivalent_t = flatbuffer.load(data)
    weights, skipped = flatbuffer.weight_tensors(equivalent_t)
    encoded, changes, kept = [], [], []
    for weight in weights:
        axis = weight.axis if weight.per_channel else None
        if axis is not None and axis not in (0, weight.values.ndim - 1):
            skipped.append((weight.name, f"channel axis {weight.axis}: TFLM's LUT decodes axis 0 or the last only"))
            continue
        clustered = share.cluster_weights(weight.values, axis, bits)
        encoding = lut.encode(clustered, axis, bits)
        stored = len(encoding.indices) + len(encoding.ancillary)
        overhead = decode_overhead(weight.name)
        if stored + overhead >= weight.values.size:
            skipped.append((weight.name, f"LUT form ({stored} B + ~{overhead} B for its TFLM_DECODE op) is not "
                                         f"smaller than int8 ({weight.values.size} B)"))
            continue
        tensor = equivalent_t.subgraphs[0].tensors[weight.index]
        flatbuffer.set_buffer(equivalent_t, tensor, clustered.tobytes())
        kept.append(weight)
        encoded.append((weight, encoding))
        changes.append(TensorChange(weight.name, weight.op, f"cluster={bits}", int(weight.values.size),
                                    weight.channels, int(weight.values.size), stored))
    if not encoded:
        raise CompressionError(_nothing(skipped))
    equivalent = flatbuffer.pack(equivalent_t)
    compressed_t = flatbuffer.load(equivalent)
    lut.insert_decodes(compressed_t, encoded)
    return Rewritten(flatbuffer.pack(compressed_t), equivalent, tuple(changes), tuple(skipped))


def _int4(data: bytes) -> Rewritten:
    equivalent_t = flatbuffer.load(data)
    weights, skipped = flatbuffer.weight_tensors(equivalent_t)
    graph = equivalent_t.subgraphs[0]
    kept, changes = [], []
    for weight in weights:
        activation = graph.tensors[int(graph.operators[weight.op_index].inputs[0])]
        if activation.type != schema().TensorType.INT8:  # TFLM's int4 kernels take int8 inputs only
            skipped.append((weight.name, f"{weight.op} input is not int8: TFLM runs int4 filters with int8 inputs"))
            continue
        kept.append(weight)
        int4.requantize(equivalent_t, weight)
        changes.append(TensorChange(weight.name, weight.op, "int4", int(weight.values.size), weight.channels,
                                    int(weight.values.size), (int(weight.values.size) + 1) // 2))
    if not kept:
        raise CompressionError(_nothing(skipped))
    equivalent = flatbuffer.pack(equivalent_t)
    compressed_t = flatbuffer.load(equivalent)
    for weight in kept:
        int4.to_int4(compressed_t, weight)
    return Rewritten(flatbuffer.pack(compressed_t), equivalent, tuple(changes), tuple(skipped))


def _nothing(skipped: list[tuple[str, str]]) -> str:
    if skipped:
        name, why = skipped[0]
        return f"no weight tensor could be compressed: {name}: {why}" + (
            f" (and {len(skipped) - 1} more)" if len(skipped) > 1 else "")
    return "the model has no int8 CONV_2D, DEPTHWISE_CONV_2D or FULLY_CONNECTED filter to compress"


def rewrite(data: bytes, techniques: tuple[Technique, ...]) -> Rewritten:
    """Apply the weight-level techniques (cluster=BITS or int4) to a full-int8 .tflite's bytes."""
    names = [t.name for t in techniques]
    if names == ["cluster"]:
        return _cluster(data, int(techniques[0].value or 0))
    if names == ["int4"]:
        return _int4(data)
    raise CompressionError(f"--compress {','.join(map(str, techniques))}: an int8 .tflite takes cluster=BITS or "
                           "int4, one of them")
