"""Weight sharing and int4 weights: the stored bytes, the decoded values and host TFLM's outputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from compress_models import random_inputs, tflm_outputs, weight_model

from edgeq.compress import lut, share
from edgeq.compress.int4 import unpack_int4
from edgeq.compress.options import parse_compress
from edgeq.compress.rewrite import rewrite
from edgeq.tflite import read_model

FILTERS = ("conv/filter", "dw/filter", "fc/filter", "head/filter")


@pytest.fixture(scope="module")
def plain() -> bytes:
    return weight_model()


@pytest.fixture(scope="module")
def inputs() -> list[np.ndarray]:
    return random_inputs(24)


def _by_name(data: bytes) -> dict[str, object]:
    return {t.name: t for t in read_model(data).main.tensors}


def _decode_ops(data: bytes) -> list[tuple[object, object, object]]:
    """(encoded, ancillary, decoded) tensors of every TFLM_DECODE op."""
    main = read_model(data).main
    return [(main.tensors[op.inputs[0]], main.tensors[op.inputs[1]], main.tensors[op.outputs[0]])
            for op in main.operators if op.opcode == lut.DECODE_OP]


@pytest.mark.parametrize("bits", [2, 4])
def test_lut_bytes_are_packed_indices_plus_tables(plain: bytes, bits: int) -> None:
    result = rewrite(plain, parse_compress(f"cluster={bits}"))
    original = _by_name(plain)
    decodes = _decode_ops(result.model)
    assert {decoded.name for _, _, decoded in decodes} == {f"{c.name}_decoded" for c in result.tensors}
    saved = 0
    for encoded, ancillary, decoded in decodes:
        source = original[decoded.name.removesuffix("_decoded")]
        n = source.num_elements
        per_channel = source.quantization.per_channel
        channels = source.shape[source.quantization.quantized_dimension] if per_channel else 1
        assert encoded.dtype == "uint8" and encoded.data.size == math.ceil(n * bits / 8)
        stride = int(ancillary.data[6])
        assert 1 < stride <= 2 ** bits
        assert ancillary.data.size == lut.DCM_SIZE + channels * stride
        assert ancillary.data[5] & 0x07 == bits
        saved += n - encoded.data.size - ancillary.data.size
    # Against the same weights stored as int8 (packed the same way), the model shrinks by what the tensors
    # save, less the flatbuffer entries of each DECODE op (two new tensors, their names, two buffers and their
    # 16-byte alignment: under 192 bytes) and the TFLM_DECODE operator code (under 64 bytes).
    shrink = len(result.equivalent) - len(result.model)
    assert saved - 64 - 192 * len(decodes) <= shrink <= saved
    assert len(result.model) < len(plain) - saved + 64 + 192 * len(decodes) + 64


def test_small_filters_stay_int8_with_the_reason(plain: bytes) -> None:
    result = rewrite(plain, parse_compress("cluster=4"))
    skipped = dict(result.skipped)
    # 25 weights a channel: 16-entry tables cost more than they save; 320 weights: the DECODE op's own entries do
    assert set(skipped) == {"dw/filter", "head/filter"}
    assert all("is not smaller than int8" in why for why in skipped.values())
    assert {c.name for c in result.tensors} == {"conv/filter", "fc/filter"}
    assert {c.name for c in rewrite(plain, parse_compress("cluster=2")).tensors} == set(FILTERS)


@pytest.mark.parametrize("bits", [2, 3, 4, 6])
def test_decoded_weights_equal_the_clustered_int8_weights(plain: bytes, bits: int) -> None:
    result = rewrite(plain, parse_compress(f"cluster={bits}"))
    equivalent = _by_name(result.equivalent)
    original = _by_name(plain)
    for encoded, ancillary, decoded in _decode_ops(result.model):
        name = decoded.name.removesuffix("_decoded")
        values = lut.decode(encoded.data.tobytes(), ancillary.data.tobytes(), decoded.shape)
        assert np.array_equal(values, equivalent[name].data)
        assert not np.array_equal(values, original[name].data)  # clustering changed something
        q = original[name].quantization
        axis = q.quantized_dimension if q.per_channel else None
        slices = [values] if axis is None else [np.take(values, c, axis=axis) for c in range(values.shape[axis])]
        assert max(np.unique(s).size for s in slices) <= 2 ** bits


def _lloyd_fixed_point(values: np.ndarray, centroids: np.ndarray) -> None:
    """Every centroid is an int8 value, the rounded mean of the values nearest to it."""
    assert centroids.dtype.kind == "i" and centroids.min() >= -128 and centroids.max() <= 127
    nearest = np.argmin(np.abs(values[:, None] - centroids[None, :]), axis=1)
    for k, centroid in enumerate(centroids):
        members = values[nearest == k]
        assert members.size
        mean = members.mean()
        assert abs(centroid - mean) <= 0.5 + 1e-9


def test_centroids_are_on_the_int8_grid_and_beat_a_uniform_grid() -> None:
    rng = np.random.default_rng(3)
    values = np.clip(np.round(rng.laplace(0, 20, 400)), -127, 127).astype(np.int64)
    for bits in (2, 3, 4):
        centroids = share.cluster_channel(values, bits)
        assert centroids.size == 2 ** bits
        _lloyd_fixed_point(values.astype(np.float64), centroids)
        clustered = share.cluster_weights(values.astype(np.int8)[None, :], 0, bits)[0].astype(np.int64)
        uniform = np.linspace(values.min(), values.max(), 2 ** bits)
        on_grid = uniform[np.argmin(np.abs(values[:, None] - uniform[None, :]), axis=1)]
        assert ((clustered - values) ** 2).sum() < ((on_grid - values) ** 2).sum()


def test_few_distinct_values_are_kept_exactly() -> None:
    values = np.array([-5, 3, 3, 0, -5, 7, 0, 0], np.int8)
    assert np.array_equal(share.cluster_weights(values[None, :], 0, 2)[0], values)


def test_index_packing_is_msb_first_and_round_trips() -> None:
    assert lut.pack_indices(np.array([1, 2, 3]), 2) == bytes([0b01101100])
    assert lut.pack_indices(np.array([5, 1, 7]), 3) == bytes([0b10100111, 0b10000000])
    rng = np.random.default_rng(0)
    for bits in range(1, 8):
        indices = rng.integers(0, 2 ** bits, 101)
        packed = lut.pack_indices(indices, bits)
        assert len(packed) == math.ceil(101 * bits / 8)
        assert np.array_equal(lut.unpack_indices(packed, bits, 101), indices)


@pytest.mark.parametrize("spec", ["cluster=2", "cluster=4", "cluster=6", "int4"])
def test_host_tflm_on_the_compressed_model_equals_the_uncompressed_equivalent(
        plain: bytes, inputs: list[np.ndarray], spec: str) -> None:
    result = rewrite(plain, parse_compress(spec))
    reference = tflm_outputs(plain, inputs)
    assert np.unique(reference).size > 30  # outputs spread over many levels: equality means something
    equivalent = tflm_outputs(result.equivalent, inputs)
    assert np.array_equal(tflm_outputs(result.model, inputs), equivalent)
    if spec in ("cluster=2", "int4"):
        assert not np.array_equal(equivalent, reference)  # the weights really changed


def _int4_reference(q8: np.ndarray, scales: np.ndarray, axis: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Independent re-quantization: per channel (axis) or per tensor (None), real = s8 * q8 -> [-7, 7]."""
    real = q8.astype(np.float64) * (scales.reshape([-1 if d == (axis or 0) else 1 for d in range(q8.ndim)])
                                    if scales.size > 1 else scales[0])
    if axis is None:
        s4 = np.array([np.abs(real).max() / 7])
        q = real / s4[0]
    else:  # s8 / s4 = 7 / max|q8|: exact in fractions, so exact halves round away from zero
        peaks = np.abs(np.moveaxis(q8, axis, 0).reshape(q8.shape[axis], -1)).max(axis=1)
        s4 = scales * peaks / 7
        from fractions import Fraction

        moved = np.moveaxis(q8, axis, 0)
        out = np.empty(moved.shape, np.int8)
        for c in range(moved.shape[0]):
            for i, v in np.ndenumerate(moved[c]):
                x = Fraction(int(v) * 7, int(peaks[c]))
                out[(c, *i)] = int(np.sign(x)) * int(abs(x) + Fraction(1, 2))
        return np.moveaxis(out, 0, axis), s4
    return np.clip(np.sign(q) * np.floor(np.abs(q) + 0.5), -7, 7).astype(np.int8), s4


def test_int4_filters_are_packed_nibbles_of_the_requantized_weights(plain: bytes) -> None:
    result = rewrite(plain, parse_compress("int4"))
    original, equivalent, packed = _by_name(plain), _by_name(result.equivalent), _by_name(result.model)
    for name, axis in (("conv/filter", 0), ("dw/filter", 3), ("fc/filter", None), ("head/filter", None)):
        source = original[name]
        expected, s4 = _int4_reference(source.data, source.quantization.scale.astype(np.float64), axis)
        assert np.array_equal(equivalent[name].data, expected), name
        np.testing.assert_allclose(equivalent[name].quantization.scale, s4, rtol=1e-6)
        assert packed[name].dtype == "int4"
        raw = read_model(result.model)
        buffer = _int4_bytes(raw, name)
        assert len(buffer) == math.ceil(source.num_elements / 2)
        assert np.array_equal(unpack_int4(buffer, source.num_elements), expected.ravel())
    # TFLM's FULLY_CONNECTED refuses per-channel int4: the per-channel dense layer became per-tensor.
    assert not equivalent["fc/filter"].quantization.per_channel


def _int4_bytes(model: object, name: str) -> bytes:
    from edgeq.compress.flatbuffer import load, tensor_name

    model_t = load(model.data)
    tensor = next(t for t in model_t.subgraphs[0].tensors if tensor_name(t) == name)
    return np.asarray(model_t.buffers[tensor.buffer].data, np.uint8).tobytes()


def test_int4_sign_extension() -> None:
    values = np.arange(-8, 8, dtype=np.int8)
    from edgeq.compress.int4 import pack_int4

    packed = pack_int4(values)
    assert packed[0] == 0x98  # -8 (0x8) low nibble, -7 (0x9) high nibble
    assert np.array_equal(unpack_int4(packed, values.size), values)


def test_int4_leaves_filters_of_int16_activations_alone() -> None:
    from models import Op, T, build_tflite

    from edgeq.errors import CompressionError

    weights = np.resize(np.arange(-64, 64, dtype=np.int8), (8, 256))
    data = build_tflite([T((1, 256), "int16", scale=[0.01], zero_point=[0]),
                         T((8, 256), data=weights, scale=[0.02]),
                         T((8,), "int64", data=np.zeros(8, np.int64), scale=[2e-4]),
                         T((1, 8), "int16", scale=[0.1], zero_point=[0])],
                        [Op("FULLY_CONNECTED", [0, 1, 2], [3])], [0], [3])
    with pytest.raises(CompressionError, match="FULLY_CONNECTED input is not int8"):
        rewrite(data, parse_compress("int4"))
    assert rewrite(data, parse_compress("cluster=2")).tensors[0].name == "t1"  # sharing works at any activation
