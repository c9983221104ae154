#ifndef MALLOC_COUNTER_H
#define MALLOC_COUNTER_H

#include <stdint.h>

/// Starts counting the allocations (malloc, calloc, realloc, posix_memalign, aligned_alloc,
/// memalign) made by the calling thread, from zero.
void malloc_counter_start(void);

/// Stops counting on the calling thread and returns how many allocations it made since
/// `malloc_counter_start`.
uint64_t malloc_counter_stop(void);

/// The calling thread's count so far, without stopping.
uint64_t malloc_counter_read(void);

#endif
