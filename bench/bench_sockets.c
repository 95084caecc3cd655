/*
 * bench_sockets: epoll with recv/send against io_uring recv/send, for the server's pattern,
 * measured in one run on loopback.
 *
 *   latency   a client sends a 64-byte frame and waits for a 64-byte reply, one at a time
 *             (the shape of ping, or of one small request): round trip p50 and p99;
 *   stream    a client sends 1 MiB messages back to back and the server reads them into a
 *             64 KiB buffer, as the server reads pipelined batches: MB/s.
 *
 * The server side is one thread running either loop; the client is blocking sockets on
 * another thread. Only the server's I/O mechanism differs between the two runs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench/common.h"

#define FRAME 64u
#define CHUNK (64u * 1024u)
#define MESSAGE (1u << 20)

typedef enum { MODE_EPOLL, MODE_URING } mode_t_;
typedef enum { WORK_ECHO, WORK_SINK } work_t;

typedef struct server {
    int listen_fd;
    uint16_t port;
    mode_t_ mode;
    work_t work;
} server_t;

static void die(const char *what) {
    fprintf(stderr, "bench_sockets: %s: %s\n", what, strerror(errno));
    exit(1);
}

static int listen_any(uint16_t *port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(fd, 4) != 0)
        die("listen");
    socklen_t len = sizeof(addr);
    getsockname(fd, (struct sockaddr *)&addr, &len);
    *port = ntohs(addr.sin_port);
    return fd;
}

/* epoll: non-blocking socket, read what is there, answer each whole frame (echo) or drop it
 * (sink), wait again. */
static void serve_epoll(int fd, work_t work) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fcntl(fd, F_SETFL, O_NONBLOCK);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    static uint8_t buffer[CHUNK];
    uint32_t have = 0;
    for (;;) {
        struct epoll_event got;
        if (epoll_wait(ep, &got, 1, -1) < 0 && errno != EINTR) die("epoll_wait");
        for (;;) {
            ssize_t n = recv(fd, buffer + have, sizeof(buffer) - have, 0);
            if (n == 0) goto done;
            if (n < 0) {
                if (errno == EAGAIN) break;
                die("recv");
            }
            if (work == WORK_SINK) continue;
            have += (uint32_t)n;
            while (have >= FRAME) {
                if (send(fd, buffer, FRAME, MSG_NOSIGNAL) != FRAME) die("send");
                memmove(buffer, buffer + FRAME, have - FRAME);
                have -= FRAME;
            }
        }
    }
done:
    close(ep);
}

/* io_uring: a recv always outstanding; each completion is handled and the recv re-armed;
 * echo replies go out as send SQEs submitted with the next recv. */
static void serve_uring(int fd, work_t work) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct io_uring ring;
    if (io_uring_queue_init(64, &ring, 0) != 0) die("io_uring_queue_init");
    static uint8_t buffer[CHUNK];
    static uint8_t reply[FRAME];
    uint32_t have = 0;
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    io_uring_prep_recv(sqe, fd, buffer, sizeof(buffer), 0);
    io_uring_sqe_set_data64(sqe, 1);
    io_uring_submit(&ring);
    for (;;) {
        struct io_uring_cqe *cqe;
        if (io_uring_wait_cqe(&ring, &cqe) != 0) die("io_uring_wait_cqe");
        int res = cqe->res;
        uint64_t kind = io_uring_cqe_get_data64(cqe);
        io_uring_cqe_seen(&ring, cqe);
        if (kind == 2) continue; /* a send finished */
        if (res <= 0) break;
        if (work == WORK_ECHO) {
            have += (uint32_t)res;
            while (have >= FRAME) {
                memcpy(reply, buffer, FRAME);
                sqe = io_uring_get_sqe(&ring);
                io_uring_prep_send(sqe, fd, reply, FRAME, MSG_NOSIGNAL);
                io_uring_sqe_set_data64(sqe, 2);
                memmove(buffer, buffer + FRAME, have - FRAME);
                have -= FRAME;
            }
        }
        sqe = io_uring_get_sqe(&ring);
        io_uring_prep_recv(sqe, fd, buffer + (work == WORK_ECHO ? have : 0),
                           sizeof(buffer) - (work == WORK_ECHO ? have : 0), 0);
        io_uring_sqe_set_data64(sqe, 1);
        io_uring_submit(&ring);
    }
    io_uring_queue_exit(&ring);
}

static void *server_main(void *arg) {
    server_t *s = arg;
    int fd = accept(s->listen_fd, NULL, NULL);
    if (fd < 0) die("accept");
    if (s->mode == MODE_EPOLL)
        serve_epoll(fd, s->work);
    else
        serve_uring(fd, s->work);
    close(fd);
    return NULL;
}

static int client_connect(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) die("connect");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static void run(mode_t_ mode, uint32_t round_trips, uint32_t messages) {
    const char *name = mode == MODE_EPOLL ? "epoll   " : "io_uring";
    /* latency */
    server_t s = {.mode = mode, .work = WORK_ECHO};
    s.listen_fd = listen_any(&s.port);
    pthread_t thread;
    pthread_create(&thread, NULL, server_main, &s);
    int fd = client_connect(s.port);
    uint8_t frame[FRAME] = {1};
    uint64_t *samples = calloc(round_trips, sizeof(uint64_t));
    for (uint32_t i = 0; i < round_trips; i++) {
        uint64_t t0 = bench_now_ns();
        if (send(fd, frame, FRAME, 0) != FRAME) die("send");
        for (uint32_t got = 0; got < FRAME;) {
            ssize_t n = recv(fd, frame + got, FRAME - got, 0);
            if (n <= 0) die("recv");
            got += (uint32_t)n;
        }
        samples[i] = bench_now_ns() - t0;
    }
    close(fd);
    pthread_join(thread, NULL);
    close(s.listen_fd);
    qsort(samples, round_trips, sizeof(uint64_t), bench_u64_compare);
    double p50 = bench_percentile(samples, round_trips, 0.5) / 1e3;
    double p99 = bench_percentile(samples, round_trips, 0.99) / 1e3;
    free(samples);

    /* stream */
    s = (server_t){.mode = mode, .work = WORK_SINK};
    s.listen_fd = listen_any(&s.port);
    pthread_create(&thread, NULL, server_main, &s);
    fd = client_connect(s.port);
    uint8_t *message = calloc(1, MESSAGE);
    uint64_t t0 = bench_now_ns();
    for (uint32_t i = 0; i < messages; i++) {
        for (uint32_t sent = 0; sent < MESSAGE;) {
            ssize_t n = send(fd, message + sent, MESSAGE - sent, 0);
            if (n <= 0) die("send");
            sent += (uint32_t)n;
        }
    }
    shutdown(fd, SHUT_WR);
    pthread_join(thread, NULL);
    double seconds = (bench_now_ns() - t0) / 1e9;
    close(fd);
    close(s.listen_fd);
    free(message);
    printf("%s  round trip p50 %.1f us p99 %.1f us   stream %.0f MB/s\n", name, p50, p99,
           (double)messages * MESSAGE / seconds / 1e6);
}

int main(int argc, char **argv) {
    uint32_t round_trips = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 20000;
    uint32_t messages = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 2048;
    if (round_trips < 2 || messages < 1) {
        fprintf(stderr, "usage: bench_sockets [ROUND_TRIPS (20000)] [MIB_STREAMED (2048)]\n");
        return 2;
    }
    for (int repeat = 0; repeat < 2; repeat++) { /* alternate, so drift hits both */
        run(MODE_EPOLL, round_trips, messages);
        run(MODE_URING, round_trips, messages);
    }
    return 0;
}
