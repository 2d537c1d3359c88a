// DECLARATION-ONLY SHIM FOR edgeq's COMPILE TESTS -- not the real SDK header (see README.md here).
#pragma once
// As the real Arduino_TensorFlowLite 2.4.0-ALPHA does: its TensorFlowLite.h includes peripherals/peripherals.h,
// which stops every Arduino board but the Nano 33 BLE.
#if defined(ARDUINO) && !defined(ARDUINO_ARDUINO_NANO33BLE)
#error "unsupported board"
#endif
