"""MACs per op against counts made independently (from the Keras layers and the models' known layer sizes),
and the latency estimate against the profile's cycles per MAC."""

from __future__ import annotations

import numpy as np
import pytest

from edgeq.check.macs import estimate_latency, op_costs, total_macs
from edgeq.check.targets import get_target
from edgeq.tflite import read_model


def _keras_macs(keras_model) -> list[int]:
    """MACs of each multiply-accumulate layer, from Keras' own layer configs and output shapes."""
    macs = []
    for layer in keras_model.layers:
        kind = type(layer).__name__
        out = [d for d in layer.output.shape[1:]]
        if kind == "Conv2D":
            in_ch = layer.input.shape[-1]
            macs.append(int(np.prod(out)) * layer.kernel_size[0] * layer.kernel_size[1] * in_ch)
        elif kind == "DepthwiseConv2D":
            macs.append(int(np.prod(out)) * layer.kernel_size[0] * layer.kernel_size[1])
        elif kind == "Dense":
            macs.append(layer.units * layer.input.shape[-1])
    return macs


def test_digits_macs_match_the_keras_layers(digits_int8, digits_source):
    expected = _keras_macs(digits_source.keras_model)
    costs = [c for c in op_costs(digits_int8) if c.kernel_class]
    assert [c.macs for c in costs] == expected
    assert [c.opcode for c in costs] == ["CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D", "FULLY_CONNECTED",
                                         "FULLY_CONNECTED"]
    assert total_macs(digits_int8) == sum(expected) == 8 * 8 * 16 * 9 + 8 * 8 * 16 * 9 + 8 * 8 * 24 * 16 \
        + 384 * 32 + 32 * 10


def test_fully_connected_and_lstm_macs(sine_int8_path, lstm_path):
    sine = read_model(sine_int8_path)
    assert [c.macs for c in op_costs(sine)] == [1 * 16, 16 * 16, 16 * 1]
    lstm = read_model(lstm_path)
    costs = op_costs(lstm)
    # 28 steps x 4 gates x 20 units x (28 inputs + 20 recurrent); then the 560 -> 10 dense layer
    assert costs[0].opcode == "UNIDIRECTIONAL_SEQUENCE_LSTM" and costs[0].macs == 28 * 4 * 20 * (28 + 20)
    assert costs[2].opcode == "FULLY_CONNECTED" and costs[2].macs == 560 * 10


@pytest.mark.parametrize("target", ["cortex-m4", "cortex-m0plus", "stm32f746-disco"])
def test_latency_is_macs_times_cycles_per_mac_over_the_clock(digits_int8, target):
    profile = get_target(target)
    estimate = estimate_latency(digits_int8, profile)
    cpm = profile.latency.cycles_per_mac
    expected_cycles = sum(
        c.macs * cpm[c.kernel_class] if c.kernel_class else c.elements * profile.latency.cycles_per_element
        for c in op_costs(digits_int8))  # every digits MAC op has a CMSIS-NN int8 kernel
    assert estimate.cycles == round(expected_cycles)
    assert estimate.ms == pytest.approx(expected_cycles / (profile.cpu.clock_mhz * 1e3))
    assert estimate.to_dict()["estimate"] is True and estimate.source == profile.latency.source


def test_reference_kernels_are_estimated_slower(digits_int8):
    from dataclasses import replace

    m4 = get_target("cortex-m4")
    reference = replace(m4, runtime=replace(m4.runtime, kernels="reference"))
    assert estimate_latency(digits_int8, reference).cycles > 3 * estimate_latency(digits_int8, m4).cycles


def test_esp32_s3_estimate_matches_the_published_person_detect_time(person_path):
    """esp-tflite-micro's README: person_detect takes 54 ms on an ESP32-S3 at 240 MHz with ESP-NN. The built
    model has person_detect's layers (the same MACs per op: test_cli_check.py checks the total)."""
    model = read_model(person_path)
    assert estimate_latency(model, get_target("esp32-s3")).ms == pytest.approx(54, rel=0.1)
