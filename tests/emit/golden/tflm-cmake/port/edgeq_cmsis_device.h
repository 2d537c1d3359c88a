/* Written by edgeq: the part of a CMSIS device header that TensorFlow Lite Micro's Cortex-M port uses.
 *
 * TFLM's tensorflow/lite/micro/cortex_m_generic/micro_time.cc includes the file named by
 * CMSIS_DEVICE_ARM_CORTEX_M_XX_HEADER_FILE (normally Arm's ARMCMx.h from Cortex_DFP, which in turn needs
 * CMSIS/Core/Include/m-profile/) to reach the DWT cycle counter. A tree made by create_tflm_tree.py ships
 * neither, so the project points that macro at this file, which defines just the registers micro_time.cc
 * reads: DWT->CTRL, DWT->CYCCNT, DWT->LAR (Cortex-M7) and DCB->DEMCR. Addresses and offsets are those of
 * the Armv7-M and Armv8-M Architecture Reference Manuals (DWT at 0xE0001000, DCB at 0xE000EDF0), the same
 * on every Cortex-M core that has a DWT; on Armv6-M (ARMCM0, ARMCM0plus) micro_time.cc reads none of them.
 * To use your vendor's device header instead, configure with -DTFLM_DEVICE_HEADER=<file> and
 * -DTFLM_DEVICE_INCLUDE_DIRS=<its include directories>.
 */
#ifndef EDGEQ_CMSIS_DEVICE_H_
#define EDGEQ_CMSIS_DEVICE_H_

#include <stddef.h>
#include <stdint.h>

/* Data Watchpoint and Trace unit: control, cycle counter and (Cortex-M7) the lock access register. */
typedef struct {
  volatile uint32_t CTRL;   /* 0x000: bit 0 CYCCNTENA */
  volatile uint32_t CYCCNT; /* 0x004 */
  uint32_t RESERVED0[(0xFB0u - 0x008u) / 4u];
  volatile uint32_t LAR;    /* 0xFB0: write 0xC5ACCE55 to unlock */
} EDGEQ_DWT_Type;

/* Debug Control Block: DHCSR, DCRSR, DCRDR, DEMCR. */
typedef struct {
  volatile uint32_t DHCSR; /* 0x000 */
  volatile uint32_t DCRSR; /* 0x004 */
  volatile uint32_t DCRDR; /* 0x008 */
  volatile uint32_t DEMCR; /* 0x00C: bit 24 TRCENA */
} EDGEQ_DCB_Type;

/* The offsets above are the architecture's: refuse to compile if padding ever moved them. */
typedef char edgeq_dwt_lar_offset_check[(offsetof(EDGEQ_DWT_Type, LAR) == 0xFB0u) ? 1 : -1];
typedef char edgeq_dcb_demcr_offset_check[(offsetof(EDGEQ_DCB_Type, DEMCR) == 0x00Cu) ? 1 : -1];

#define DWT ((EDGEQ_DWT_Type *)0xE0001000UL)
#define DCB ((EDGEQ_DCB_Type *)0xE000EDF0UL)
#define DCB_DEMCR_TRCENA_Msk (1UL << 24)

#endif /* EDGEQ_CMSIS_DEVICE_H_ */
