// DECLARATION-ONLY SHIM FOR edgeq's COMPILE TESTS -- not the real SDK header (see README.md here).
#pragma once
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif
uint32_t k_cycle_get_32(void);
#ifdef __cplusplus
}
#endif
