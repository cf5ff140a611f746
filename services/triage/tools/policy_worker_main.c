/* policy_worker_main.c: vigil-policy-worker, the process plugins run in.
 *
 * Started by triage (policy_host.c) with its end of a socketpair as fd 3
 * and the shared progress page as fd 4; never by hand. Before it serves a
 * single request it makes itself a poor place to keep secrets or linger:
 * it dies with its parent (PR_SET_PDEATHSIG), writes no core dumps and
 * cannot be ptraced by other processes of the user (not dumpable), closes
 * every other inherited descriptor, and points stdout at /dev/null so a
 * plugin cannot write into triage's output. Last, it puts itself under the
 * syscall filter (policy_sandbox.h): no sockets, programs, processes or
 * signals to others, for good. A worker that cannot enter the filter runs
 * no plugin: it exits, and triage routes the regions by their fallbacks.
 * Then it runs the message loop (policy_worker.h) until triage says
 * SHUTDOWN or goes away.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "policy_sandbox.h"
#include "policy_worker.h"
#include "vigil/log.h"

/* Exit codes (service.h). */
#define WORKER_EXIT_USAGE    64
#define WORKER_EXIT_SOFTWARE 70
/* The first descriptor the worker does not need. */
#define WORKER_FIRST_FREE_FD (POLICY_WIRE_PROGRESS_FD + 1)
/* Room for the sandbox's error message. */
#define WORKER_ERR_LEN 256
/* The environment variable triage sets to pass its log level. */
#define WORKER_LOG_LEVEL_ENV "VIGIL_POLICY_LOG_LEVEL"
/* The environment variable triage sets to its own PID. */
#define WORKER_PARENT_ENV "VIGIL_POLICY_PARENT_PID"

static void s_close_others(void)
{
#ifdef SYS_close_range
    if (syscall(SYS_close_range, WORKER_FIRST_FREE_FD, ~0U, 0) == 0) {
        return;
    }
#endif
    long max = sysconf(_SC_OPEN_MAX);
    for (long fd = WORKER_FIRST_FREE_FD; fd < max; fd++) {
        close((int)fd);
    }
}

int main(int argc, char **argv)
{
    (void)argv;
    if (argc != 1 || fcntl(POLICY_WIRE_WORKER_FD, F_GETFD) < 0 ||
        fcntl(POLICY_WIRE_PROGRESS_FD, F_GETFD) < 0) {
        fprintf(stderr, "vigil-policy-worker runs region plugins for vigil-triage, which starts "
                        "it; it is not run by hand\n");
        return WORKER_EXIT_USAGE;
    }
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* Triage may have died before PR_SET_PDEATHSIG took effect: then we
     * were re-parented and getppid() no longer names it. (Comparing with 1
     * would be wrong: in a container triage itself is often PID 1.) */
    const char *parent = getenv(WORKER_PARENT_ENV);
    if (parent && strtol(parent, NULL, 10) != (long)getppid()) {
        return 0;
    }
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    prctl(PR_SET_DUMPABLE, 0);
    s_close_others();
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (devnull >= 0) {
        dup2(devnull, STDOUT_FILENO);
        close(devnull);
    }
    signal(SIGPIPE, SIG_IGN);
    log_level_t level = LOG_LEVEL_INFO;
    const char *wanted = getenv(WORKER_LOG_LEVEL_ENV);
    if (wanted) {
        log_level_parse(wanted, &level);
    }
    log_init("policy-worker", level);
    policy_progress_t *progress = mmap(NULL, sizeof *progress, PROT_READ | PROT_WRITE, MAP_SHARED,
                                       POLICY_WIRE_PROGRESS_FD, 0);
    if (progress == MAP_FAILED) {
        log_error("policy worker: cannot map the progress page", "errno=%d", errno);
        return WORKER_EXIT_SOFTWARE;
    }
    char why[WORKER_ERR_LEN];
    if (policy_sandbox_enter(why, sizeof why) != 0) {
        log_error("policy worker: cannot enter the plugin sandbox, so no plugin will run",
                  "error=%s", why);
        return WORKER_EXIT_SOFTWARE;
    }
    return policy_worker_run(POLICY_WIRE_WORKER_FD, progress);
}
