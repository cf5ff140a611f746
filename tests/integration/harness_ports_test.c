/* harness_ports_test.c: the ports harness_free_port() hands to tests can be
 * bound by the service under test, whatever else runs beside it.
 *
 * CI once failed because a service could not bind the port its test had
 * picked a moment earlier: the port came from the kernel's ephemeral range,
 * and an outgoing connection of a test running in parallel took it in
 * between. Four real processes here each take PORTS_PER_CHILD ports at the
 * same time and report them while still holding them. Every port must lie
 * outside the ephemeral range, be bindable on 127.0.0.1, and be handed to
 * one process only. Once a child has exited, its ports are free again.
 *
 * Usage: harness_ports_test
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "link_harness.h"

#define CHILDREN        4
#define PORTS_PER_CHILD 100
#define PORT_LIMIT      65536

/* The child: takes its ports, writes them to `out` and keeps holding them
 * until the parent closes `hold`. */
static int s_child(int out, int hold)
{
    int ports[PORTS_PER_CHILD];
    for (int i = 0; i < PORTS_PER_CHILD; i++)
        ports[i] = harness_free_port();
    if (write(out, ports, sizeof ports) != (ssize_t)sizeof ports)
        return 1;
    close(out);
    char byte;
    (void)read(hold, &byte, 1); /* EOF: the parent has checked them all */
    return 0;
}

/* 1 if some process holds the tests' lock on `port`, 0 if not, -1 on error. */
static int s_locked(int port)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/vigil-test-ports/%d", port);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int locked = flock(fd, LOCK_EX | LOCK_NB) != 0;
    close(fd);
    return locked;
}

static int s_bindable(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = fd >= 0 && bind(fd, (struct sockaddr *)&address, sizeof address) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

int main(void)
{
    int ephemeral_lo = 0, ephemeral_hi = 0;
    FILE *range = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    HARNESS_CHECK(range != NULL, "cannot read ip_local_port_range");
    HARNESS_CHECK(fscanf(range, "%d %d", &ephemeral_lo, &ephemeral_hi) == 2, "bad port range");
    fclose(range);

    int hold[2];
    HARNESS_CHECK(pipe(hold) == 0, "pipe");
    int out[CHILDREN][2];
    pid_t pids[CHILDREN];
    for (int c = 0; c < CHILDREN; c++) {
        HARNESS_CHECK(pipe(out[c]) == 0, "pipe");
        pids[c] = fork();
        HARNESS_CHECK(pids[c] >= 0, "fork");
        if (pids[c] == 0) {
            close(hold[1]);
            close(out[c][0]);
            _exit(s_child(out[c][1], hold[0]));
        }
        close(out[c][1]);
    }
    close(hold[0]);

    static unsigned char owner[PORT_LIMIT]; /* 1 + the child that got it */
    int first_port = -1;
    for (int c = 0; c < CHILDREN; c++) {
        int ports[PORTS_PER_CHILD];
        size_t got = 0;
        while (got < sizeof ports) {
            ssize_t n = read(out[c][0], (char *)ports + got, sizeof ports - got);
            HARNESS_CHECK(n > 0, "child %d reported %zu of %zu bytes", c, got, sizeof ports);
            got += (size_t)n;
        }
        close(out[c][0]);
        for (int i = 0; i < PORTS_PER_CHILD; i++) {
            int port = ports[i];
            HARNESS_CHECK(port > 0 && port < PORT_LIMIT, "child %d got port %d", c, port);
            HARNESS_CHECK(port < ephemeral_lo || port > ephemeral_hi,
                          "port %d lies in the ephemeral range %d-%d", port, ephemeral_lo,
                          ephemeral_hi);
            HARNESS_CHECK(owner[port] == 0, "port %d handed to child %d and child %d", port,
                          owner[port] - 1, c);
            HARNESS_CHECK(s_bindable(port), "port %d cannot be bound", port);
            owner[port] = (unsigned char)(c + 1);
            if (first_port < 0)
                first_port = port;
        }
    }

    /* While the children hold their ports, this process gets none of them. */
    for (int i = 0; i < PORTS_PER_CHILD; i++) {
        int port = harness_free_port();
        HARNESS_CHECK(port > 0 && owner[port] == 0, "port %d is held by child %d", port,
                      port > 0 ? owner[port] - 1 : -1);
    }

    HARNESS_CHECK(s_locked(first_port) == 1, "port %d is not locked while held", first_port);
    close(hold[1]);
    for (int c = 0; c < CHILDREN; c++) {
        int status = 0;
        HARNESS_CHECK(waitpid(pids[c], &status, 0) == pids[c], "waitpid");
        HARNESS_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d failed", c);
    }
    HARNESS_CHECK(s_locked(first_port) == 0, "port %d stayed locked after its holder exited",
                  first_port);
    printf("PASS %d processes took %d ports each, none shared, none ephemeral (%d-%d)\n",
           CHILDREN + 1, PORTS_PER_CHILD, ephemeral_lo, ephemeral_hi);
    return 0;
}
