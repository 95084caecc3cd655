/*
 * Eventfd wake-ups, as the node, the log and the server use them: a signal adds 1 to the
 * counter, a drain reads it back to 0. Their errors are ignored on purpose, and only here.
 * Every such eventfd is created EFD_NONBLOCK by its owner. A write fails only when the counter
 * would pass 2^64 - 2, and it cannot: each signal adds 1 and every wait drains it. A read fails
 * only with EAGAIN, when the counter is already 0 (another drain got there first), which is the
 * state a drain wants.
 */
#ifndef BALLAST_COMMON_EVENTFD_H
#define BALLAST_COMMON_EVENTFD_H

#include <stdint.h>
#include <unistd.h>

/* Async-signal-safe: bl_server_stop calls it from a signal handler. */
static inline void bl_eventfd_signal(int fd) {
    uint64_t one = 1;
    if (write(fd, &one, sizeof(one)) < 0) { /* see above */
    }
}

static inline void bl_eventfd_drain(int fd) {
    uint64_t count;
    if (read(fd, &count, sizeof(count)) < 0) { /* see above */
    }
}

#endif /* BALLAST_COMMON_EVENTFD_H */
