/*
 * edgeq's start-up code for Cortex-M firmware run under QEMU (mps2/mps3 machines).
 *
 * One file serves Armv7-M (M3, M4, M7) and Armv8-M (M33, M55): the differences are a vector
 * (SecureFault) and the stack-limit register, both selected by the compiler's architecture macros.
 * It enables the FPU/MVE, copies .data, zeroes .bss, opens the semihosting channel and calls main().
 * Any fault prints one "EDGEQ FAULT" line through semihosting and ends QEMU with EDGEQ_EXIT_FAULT.
 */
#include <stdint.h>
#include <stdlib.h>

#ifndef EDGEQ_EXIT_FAULT
#error "EDGEQ_EXIT_FAULT must be defined by the build (edgeq.emulate passes it)"
#endif

#if defined(__ARM_ARCH_8M_MAIN__) || defined(__ARM_ARCH_8_1M_MAIN__)
#define EDGEQ_ARMV8M 1
#else
#define EDGEQ_ARMV8M 0
#endif

/* Defined by the linker script. */
extern uint32_t __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[];
extern uint32_t __stack_limit[], __stack_top[];
extern char __heap_end[];
extern unsigned int __heap_limit; /* libgloss' _sbrk honours it; its crt0 (not linked) would set it */

extern int main(void);
extern void initialise_monitor_handles(void);
extern void __libc_init_array(void);

void Reset_Handler(void);
void edgeq_start(void);
void edgeq_fault_entry(void);
void edgeq_fault(uint32_t pc, uint32_t lr, uint32_t exc_return);

/* Linked with -nostartfiles: newlib's init/fini arrays still call these. */
void _init(void) {}
void _fini(void) {}

/* C++ objects with static storage register their destructors with __cxa_atexit(..., &__dso_handle); crtbegin.o
   (left out by -nostartfiles) would define it. */
void *__dso_handle = &__dso_handle;

/* The FPU (and MVE) must be on before any compiled code runs: at -O2 the compiler may use FP or
   vector registers even in the copy loops below, so this part is assembly. */
__attribute__((naked, noreturn)) void Reset_Handler(void)
{
    __asm__ volatile(
#if EDGEQ_ARMV8M
        "ldr r0, =__stack_limit\n"
        "msr msplim, r0\n"          /* a stack overflow becomes a UsageFault, not silent corruption */
#endif
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
        "ldr r0, =0xE000ED88\n"     /* CPACR: full access to CP10 and CP11 */
        "ldr r1, [r0]\n"
        "orr r1, r1, #(0xF << 20)\n"
        "str r1, [r0]\n"
        "dsb\n"
        "isb\n"
#endif
        "b edgeq_start\n");
}

void edgeq_start(void)
{
    const uint32_t *src = __data_load;
    uint32_t *dst = __data_start;
    while (dst < __data_end) {
        *dst++ = *src++;
    }
    for (dst = __bss_start; dst < __bss_end; ++dst) {
        *dst = 0;
    }
    __heap_limit = (unsigned int)(uintptr_t)__heap_end;
    /* SHCSR: report MemManage, BusFault and UsageFault (and SecureFault) as themselves instead of
       escalating them to HardFault, so the fault line names the cause. */
    *(volatile uint32_t *)0xE000ED24u |= (EDGEQ_ARMV8M ? 0xFu : 0x7u) << 16;
    initialise_monitor_handles();
    __libc_init_array();
    exit(main());
}

/* ---- faults -------------------------------------------------------------------------------- */

static uint32_t semihost(uint32_t op, const void *arg)
{
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

static char *put_text(char *p, const char *s)
{
    while (*s) {
        *p++ = *s++;
    }
    return p;
}

static char *put_hex(char *p, uint32_t value)
{
    static const char digits[] = "0123456789abcdef";
    p = put_text(p, "0x");
    for (int shift = 28; shift >= 0; shift -= 4) {
        *p++ = digits[(value >> shift) & 0xFu];
    }
    return p;
}

static const char *exception_name(uint32_t number)
{
    switch (number) {
    case 2: return "nmi";
    case 3: return "hardfault";
    case 4: return "memmanage";
    case 5: return "busfault";
    case 6: return "usagefault";
    case 7: return "securefault";
    default: return "unexpected-exception";
    }
}

/* Written without printf: the fault may have hit inside newlib, whose state is then unknown. */
void edgeq_fault(uint32_t pc, uint32_t lr, uint32_t exc_return)
{
    uint32_t ipsr;
    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
    char line[224];
    char *p = put_text(line, "\nEDGEQ FAULT ");
    p = put_text(p, exception_name(ipsr & 0x1FFu));
    p = put_text(p, " exception=");
    p = put_hex(p, ipsr & 0x1FFu);
    p = put_text(p, " pc=");
    p = put_hex(p, pc);
    p = put_text(p, " lr=");
    p = put_hex(p, lr);
    p = put_text(p, " cfsr=");
    p = put_hex(p, *(volatile uint32_t *)0xE000ED28u);
    p = put_text(p, " hfsr=");
    p = put_hex(p, *(volatile uint32_t *)0xE000ED2Cu);
    p = put_text(p, " mmfar=");
    p = put_hex(p, *(volatile uint32_t *)0xE000ED34u);
    p = put_text(p, " bfar=");
    p = put_hex(p, *(volatile uint32_t *)0xE000ED38u);
    p = put_text(p, " exc_return=");
    p = put_hex(p, exc_return);
    p = put_text(p, "\n");
    *p = '\0';
    semihost(0x04u, line); /* SYS_WRITE0 */
    /* SYS_EXIT_EXTENDED carries an exit code; QEMU exits with it when the reason is ApplicationExit. */
    const uint32_t block[2] = {0x20026u, (uint32_t)EDGEQ_EXIT_FAULT};
    for (;;) {
        semihost(0x20u, block);
    }
}

/* Every exception but reset lands here. The faulting pc and lr are read from the stacked frame (MSP or
   PSP) before edgeq_fault gets a fresh stack at the top of RAM, so a stack overflow can still report. */
__attribute__((naked, noreturn)) void edgeq_fault_entry(void)
{
    __asm__ volatile(
        "mov r2, lr\n"
        "tst lr, #4\n"
        "ite eq\n"
        "mrseq r3, msp\n"
        "mrsne r3, psp\n"
        "ldr r0, [r3, #24]\n"
        "ldr r1, [r3, #20]\n"
#if EDGEQ_ARMV8M
        "movs r3, #0\n"
        "msr msplim, r3\n"
#endif
        "ldr r3, =__stack_top\n"
        "mov sp, r3\n"
        "b edgeq_fault\n");
}

typedef void (*vector_t)(void);

/* 16 system vectors; the fault-free harness enables no interrupts, so no external vectors. */
__attribute__((section(".vectors"), used)) const vector_t edgeq_vectors[16] = {
    (vector_t)(uintptr_t)__stack_top,
    Reset_Handler,
    edgeq_fault_entry, /* NMI */
    edgeq_fault_entry, /* HardFault */
    edgeq_fault_entry, /* MemManage */
    edgeq_fault_entry, /* BusFault */
    edgeq_fault_entry, /* UsageFault */
    edgeq_fault_entry, /* SecureFault (Armv8-M), reserved on Armv7-M */
    0, 0, 0,
    edgeq_fault_entry, /* SVCall */
    edgeq_fault_entry, /* DebugMonitor */
    0,
    edgeq_fault_entry, /* PendSV */
    edgeq_fault_entry, /* SysTick */
};
