/*
 * Two tiers of assertions.
 *
 * BL_ASSERT stays on in every build: it guards invariants whose violation would corrupt the
 * ledger, and costs nothing next to that. BL_VERIFY is for expensive checks (walks over a
 * table, recomputed digests) and runs only in debug, test and sanitizer builds
 * (BL_VERIFY_ENABLED). Both abort with file, line and the failed expression.
 */
#ifndef BALLAST_COMMON_ASSERT_H
#define BALLAST_COMMON_ASSERT_H

#include <stdio.h>
#include <stdlib.h>

#define BL_LIKELY(x) __builtin_expect(!!(x), 1)
#define BL_UNLIKELY(x) __builtin_expect(!!(x), 0)

#define BL_ASSERT(expr)                                                                            \
    do {                                                                                           \
        if (BL_UNLIKELY(!(expr))) {                                                                \
            fprintf(stderr, "ballast: assertion failed: %s (%s:%d)\n", #expr, __FILE__, __LINE__); \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#if defined(BL_VERIFY_ENABLED) && BL_VERIFY_ENABLED
#define BL_VERIFY(expr) BL_ASSERT(expr)
#else
#define BL_VERIFY(expr) ((void)0)
#endif

#define BL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif /* BALLAST_COMMON_ASSERT_H */
