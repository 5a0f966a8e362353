/* Milliseconds from the two clocks the server needs. */
#ifndef IMAPCID_CLOCK_H
#define IMAPCID_CLOCK_H

#include <stdint.h>

/* Wall-clock time: for what is stored or compared across processes
 * (audit rows, budgets' windows, credential expiry). */
uint64_t clock_wall_ms(void);
/* Monotonic time: for durations inside this process (delays, timeouts). */
uint64_t clock_mono_ms(void);

#endif
