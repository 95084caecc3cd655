/*
 * The throwaway server of `ballast bench` when no --addr is given: this same executable run as
 * `ballast start` on a new directory (mkdtemp under --dir), listening on 127.0.0.1 with a port
 * the kernel picks, and sized for the run (--accounts-max, --transfers-max).
 *
 * The child gets its own process group, so a Ctrl-C at the terminal reaches only the bench,
 * which then drains its clients and stops the server itself; and PR_SET_PDEATHSIG, so the
 * server is told to stop if the bench dies without doing so. Its standard output comes back
 * through a pipe, read until the "ballast listening on HOST:PORT" line; its standard error
 * goes to server.log in the directory and is shown if the server does not start or fails.
 *
 * Stopping: SIGTERM (the server finishes what it took and checkpoints), wait up to two minutes,
 * then SIGKILL; then the directory is removed, whatever happened before.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/common.h"
#include "bench/loadgen.h"

#define BL_LOADGEN_START_NS (60ull * BL_NS_PER_S)
#define BL_LOADGEN_STOP_NS (120ull * BL_NS_PER_S)
#define BL_LOADGEN_LISTEN_LINE "ballast listening on "

static int local_remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    (void)st, (void)type, (void)ftw;
    remove(path);
    return 0;
}

static void local_dir_remove(bl_loadgen_local_t *local) {
    if (local->dir[0] == '\0') return;
    nftw(local->dir, local_remove_one, 16, FTW_DEPTH | FTW_PHYS);
    local->dir[0] = '\0';
}

/* Shows the server's standard error (the end of it), for a server that failed. */
static void local_log_show(const bl_loadgen_local_t *local) {
    char path[4200], text[4096];
    snprintf(path, sizeof(path), "%s/server.log", local->dir);
    FILE *f = fopen(path, "r");
    if (f == NULL) return;
    if (fseek(f, 0, SEEK_END) == 0 && ftell(f) > (long)sizeof(text) - 1)
        fseek(f, -(long)sizeof(text) + 1, SEEK_END);
    else
        fseek(f, 0, SEEK_SET);
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = '\0';
    fclose(f);
    if (n > 0) fprintf(stderr, "ballast bench: the server said:\n%s", text);
}

/* The child: never returns. */
static void local_child_exec(const bl_loadgen_local_t *local, int out_fd, pid_t parent,
                             const char *exe, char **args) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127); /* the bench is already gone */
    char log_path[4200];
    snprintf(log_path, sizeof(log_path), "%s/server.log", local->dir);
    int log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out_fd != STDOUT_FILENO && dup2(out_fd, STDOUT_FILENO) < 0) _exit(127);
    if (log_fd >= 0 && dup2(log_fd, STDERR_FILENO) < 0) _exit(127);
    execv(exe, args);
    _exit(127);
}

/* Reads the child's output until the listening line; 0 or -errno. */
static int local_listen_wait(bl_loadgen_local_t *local) {
    char text[1024];
    size_t have = 0;
    uint64_t deadline_ns = bench_now_ns() + BL_LOADGEN_START_NS;
    for (;;) {
        text[have] = '\0';
        char *line = strstr(text, BL_LOADGEN_LISTEN_LINE);
        char *end = line ? strchr(line, '\n') : NULL;
        if (end != NULL) {
            *end = '\0';
            char *addr = line + strlen(BL_LOADGEN_LISTEN_LINE), *colon = strrchr(addr, ':');
            unsigned long port = colon ? strtoul(colon + 1, NULL, 10) : 0;
            if (colon == NULL || port == 0 || port > 65535 ||
                (size_t)(colon - addr) >= sizeof(local->host))
                return -EPROTO;
            memcpy(local->host, addr, (size_t)(colon - addr));
            local->host[colon - addr] = '\0';
            local->port = (uint16_t)port;
            return 0;
        }
        uint64_t now_ns = bench_now_ns();
        if (now_ns >= deadline_ns || have == sizeof(text) - 1) return -ETIMEDOUT;
        struct pollfd p = {.fd = local->out_fd, .events = POLLIN};
        int ready = poll(&p, 1, (int)((deadline_ns - now_ns) / 1000000 + 1));
        if (ready < 0 && errno == EINTR) {
            if (atomic_load(&bl_loadgen_stopping)) return -EINTR;
            continue;
        }
        if (ready <= 0) continue;
        ssize_t n = read(local->out_fd, text + have, sizeof(text) - 1 - have);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -ECHILD; /* the server exited */
        have += (size_t)n;
    }
}

int bl_loadgen_local_start(bl_loadgen_local_t *local, const bl_loadgen_options_t *o,
                           uint64_t accounts_max, uint64_t transfers_max) {
    memset(local, 0, sizeof(*local));
    local->out_fd = -1;
    char exe[PATH_MAX];
    ssize_t exe_size = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (exe_size <= 0) {
        fprintf(stderr, "ballast bench: cannot find this executable: %s\n", strerror(errno));
        return -errno;
    }
    exe[exe_size] = '\0';
    snprintf(local->dir, sizeof(local->dir), "%s/ballast-bench-XXXXXX", o->dir);
    if (mkdtemp(local->dir) == NULL) {
        int rc = -errno;
        fprintf(stderr, "ballast bench: cannot create a directory in %s: %s\n", o->dir,
                strerror(errno));
        local->dir[0] = '\0';
        return rc;
    }
    char data[4200], partitions[16], accounts[32], transfers[32];
    snprintf(data, sizeof(data), "%s/data", local->dir);
    snprintf(partitions, sizeof(partitions), "%u", o->partitions);
    snprintf(accounts, sizeof(accounts), "%llu", (unsigned long long)accounts_max);
    snprintf(transfers, sizeof(transfers), "%llu", (unsigned long long)transfers_max);
    char *args[] = {exe,
                    "start",
                    "--data",
                    data,
                    "--listen",
                    "127.0.0.1:0",
                    "--accounts-max",
                    accounts,
                    "--transfers-max",
                    transfers,
                    "--partitions",
                    partitions,
                    NULL};
    if (o->partitions == 0) args[10] = NULL; /* the server's own default */
    int pipe_fds[2];
    if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
        int rc = -errno;
        local_dir_remove(local);
        return rc;
    }
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) local_child_exec(local, pipe_fds[1], parent, exe, args);
    close(pipe_fds[1]);
    local->out_fd = pipe_fds[0];
    if (pid < 0) {
        int rc = -errno;
        bl_loadgen_local_stop(local);
        return rc;
    }
    local->pid = pid;
    int rc = local_listen_wait(local);
    if (rc != 0) {
        fprintf(stderr, "ballast bench: the throwaway server did not start: %s\n", strerror(-rc));
        local_log_show(local);
        bl_loadgen_local_stop(local);
    }
    return rc;
}

void bl_loadgen_local_stop(bl_loadgen_local_t *local) {
    if (local->pid > 0) {
        kill(local->pid, SIGTERM);
        uint64_t deadline_ns = bench_now_ns() + BL_LOADGEN_STOP_NS;
        int status = 0;
        pid_t got;
        while ((got = waitpid(local->pid, &status, WNOHANG)) == 0 && bench_now_ns() < deadline_ns)
            usleep(10000);
        if (got == 0) {
            fprintf(stderr, "ballast bench: the server did not stop in time: killed\n");
            kill(local->pid, SIGKILL);
            waitpid(local->pid, &status, 0);
        } else if (got == local->pid && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
            fprintf(stderr, "ballast bench: the server exited with status %d\n",
                    WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
            local_log_show(local);
        }
        local->pid = 0;
    }
    if (local->out_fd >= 0) close(local->out_fd);
    local->out_fd = -1;
    local_dir_remove(local);
}
