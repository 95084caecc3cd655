/*
 * The data directory's lock: one process at a time writes a data directory.
 *
 * The data directory itself is locked with flock(2) (on its own descriptor, so no file can be
 * deleted to get around it): exclusively by the process that serves or changes it (`ballast
 * start`, `ballast-log truncate`), shared by those that only read it (`ballast-log verify`,
 * `print`, `replay`, which only look). The lock goes with the process: the kernel drops it
 * when the process ends, however it ends, so a crash leaves nothing to clean up. (A checkpoint
 * child, forked, shares the lock until it too ends; it dies with its parent.) The exclusive
 * holder writes its pid into `ballast.lock`, a hint for the message that tells the next one
 * who holds the directory, and may add lines of other hints after it (bl_dir_lock_note).
 */
#ifndef BALLAST_NODE_LOCK_H
#define BALLAST_NODE_LOCK_H

#include <stdbool.h>
#include <sys/types.h>

#define BL_LOCK_FILE "ballast.lock"

/* Takes the lock of `dir`: 0 and the descriptor that holds it in *fd (close it to let go),
 * -EBUSY when another process holds it (its pid in *holder, or 0 when the file does not say),
 * or -errno. A shared lock does not wait; an exclusive one waits up to 2 s for a holder that
 * is going away. */
int bl_dir_lock(const char *dir, bool exclusive, int *fd, pid_t *holder);

/* Adds `text` to the exclusive holder's `ballast.lock`, after its pid: more hints for the
 * processes that look at the directory (`ballast status --data`: the server's memory budget). */
void bl_dir_lock_note(const char *dir, const char *text);

#endif /* BALLAST_NODE_LOCK_H */
