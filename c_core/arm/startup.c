/* Bare-metal start for the QEMU mps2-an386 (Cortex-M4F) test runs: vector table, FPU on,
 * then newlib's rdimon crt0 (_start), which clears .bss, opens semihosting and calls main;
 * main's return value becomes QEMU's exit code through semihosting SYS_EXIT. A fault ends
 * the run with exit code 3 instead of spinning. */
#include <stdint.h>

extern void _start(void);
extern uint32_t __stack_top;
extern uint32_t __data_load, __data_start, __data_end;

void Reset_Handler(void);
void Fault_Handler(void);

static void semihost_exit(uint32_t code)
{
    /* SYS_EXIT_EXTENDED (0x20) with ADP_Stopped_ApplicationExit and the code. */
    volatile uint32_t block[2] = {0x20026u, code};
    register uint32_t r0 __asm__("r0") = 0x20u;
    register volatile uint32_t *r1 __asm__("r1") = block;
    __asm__ volatile("bkpt 0xab" : : "r"(r0), "r"(r1) : "memory");
    for (;;) {
    }
}

void Fault_Handler(void)
{
    semihost_exit(3u);
}

void Reset_Handler(void)
{
    /* CPACR: full access to CP10 and CP11 (the FPU). */
    volatile uint32_t *cpacr = (volatile uint32_t *)0xE000ED88u;
    *cpacr |= (0xFu << 20);
    __asm__ volatile("dsb\n isb" ::: "memory");
    uint32_t *src = &__data_load;
    for (uint32_t *dst = &__data_start; dst < &__data_end;) {
        *dst++ = *src++;
    }
    _start();
    semihost_exit(0u);
}

__attribute__((section(".vectors"), used)) const void *const mw_vectors[16] = {
    &__stack_top, (const void *)Reset_Handler, (const void *)Fault_Handler,
    (const void *)Fault_Handler, (const void *)Fault_Handler, (const void *)Fault_Handler,
    (const void *)Fault_Handler,
};
