/*
 * Checkpoint files: engine images at a block height, in the data directory as
 * `checkpoint-<height, 20 digits>.img`.
 *
 * Writing: the image goes to `checkpoint-<height>.tmp`, is fsynced, renamed to its final
 * name, and the directory is fsynced; a crash at any point leaves either no new checkpoint or a
 * complete one. bl_checkpoint_fork does this in a child process: fork() gives the child a
 * copy-on-write snapshot of the engine, so the node pauses only for the fork itself.
 *
 * Loading: the newest checkpoint whose image reads back intact wins; a corrupt one is reported
 * and the next older one is tried (the log is kept from the previous checkpoint on, so the
 * older one plus the log still reaches the present).
 */
#ifndef BALLAST_NODE_CHECKPOINT_H
#define BALLAST_NODE_CHECKPOINT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "engine/engine.h"
#include "wal/io.h"

#define BL_CHECKPOINTS_MAX 64u

/* Writes the image of `engine` at `height` in `dir` (in this process). 0 or -errno. */
int bl_checkpoint_write(const bl_io_t *io, const char *dir, const bl_engine_t *engine,
                        uint64_t height);

/* Forks a child that runs bl_checkpoint_write and exits 0 on success, else with the errno of
 * the failure as its exit status. Returns the child's pid (> 0) or -errno. */
pid_t bl_checkpoint_fork(const bl_io_t *io, const char *dir, const bl_engine_t *engine,
                         uint64_t height);

/* Heights of the checkpoints in `dir`, newest first; returns how many (at most `max`) or
 * -errno. With `tidy`, leftover .tmp files of interrupted checkpoints are removed. */
int bl_checkpoint_list(const bl_io_t *io, const char *dir, uint64_t *heights, uint32_t max,
                       bool tidy);

/* Loads checkpoint `height` into `engine` (new and empty): 0, -EBADMSG, -EINVAL or -errno. */
int bl_checkpoint_load(const bl_io_t *io, const char *dir, uint64_t height, bl_engine_t *engine);

/* Removes every checkpoint older than `height`. */
int bl_checkpoint_remove_below(const bl_io_t *io, const char *dir, uint64_t height);

#endif /* BALLAST_NODE_CHECKPOINT_H */
