// DECLARATION-ONLY SHIM FOR edgeq's COMPILE TESTS -- not the real SDK header (see README.md here).
#pragma once
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif
uint32_t k_cycle_get_32(void);
// A macro in Zephyr (sys/time_units.h, included by kernel.h): hardware cycles (uint64_t) -> microseconds.
uint32_t k_cyc_to_us_floor32(uint64_t t);
#ifdef __cplusplus
}
#endif
