/* policy_sandbox.c: the policy worker's seccomp filter (policy_sandbox.h).
 *
 * The filter allows by default and refuses the calls in s_refused, plus the
 * argument-dependent rules in policy_sandbox_enter(). Allow-by-default is
 * deliberate: plugins link libc, libm and whatever a region needs, and a
 * list of what they may call would break on the next libc. What is refused
 * is what a confined plugin has no business doing. Calls from another
 * architecture's ABI (i386 int 0x80, x32) kill the process, libseccomp's
 * default for a filter built for the native one, so they cannot be used to
 * get round the list.
 */
#include "policy_sandbox.h"

#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

/* One refused call: its name (as libseccomp knows it) and the errno the
 * caller gets. A name this libseccomp or kernel does not know is skipped. */
typedef struct {
    const char *name;
    int error;
} sandbox_rule_t;

static const sandbox_rule_t s_refused[] = {
    /* No network, and no new local sockets: the worker's only channel is
     * the socketpair triage handed it (fd 3). */
    {"socket", EPERM},
    {"socketpair", EPERM},
    {"connect", EPERM},
    {"bind", EPERM},
    {"listen", EPERM},
    {"accept", EPERM},
    {"accept4", EPERM},
    /* No programs, no processes. */
    {"execve", EPERM},
    {"execveat", EPERM},
    {"fork", EPERM},
    {"vfork", EPERM},
    {"clone3", ENOSYS}, /* its flags cannot be inspected: libc falls back to clone */
    /* No reaching into other processes. */
    {"process_vm_readv", EPERM},
    {"process_vm_writev", EPERM},
    {"pidfd_open", EPERM},
    {"pidfd_getfd", EPERM},
    {"pidfd_send_signal", EPERM},
    {"tkill", EPERM}, /* a bare thread id could be another process's */
    {"kcmp", EPERM},
    /* io_uring runs socket, connect and open outside the filter's sight. */
    {"io_uring_setup", EPERM},
    {"io_uring_enter", EPERM},
    {"io_uring_register", EPERM},
    /* The kernel's administrative calls. */
    {"mount", EPERM},
    {"umount2", EPERM},
    {"pivot_root", EPERM},
    {"chroot", EPERM},
    {"unshare", EPERM},
    {"setns", EPERM},
    {"bpf", EPERM},
    {"perf_event_open", EPERM},
    {"userfaultfd", EPERM},
    {"keyctl", EPERM},
    {"add_key", EPERM},
    {"request_key", EPERM},
    {"init_module", EPERM},
    {"finit_module", EPERM},
    {"delete_module", EPERM},
    {"kexec_load", EPERM},
    {"kexec_file_load", EPERM},
    {"reboot", EPERM},
    {"swapon", EPERM},
    {"swapoff", EPERM},
    {"open_by_handle_at", EPERM},
    {"name_to_handle_at", EPERM},
    {"iopl", EPERM},
    {"ioperm", EPERM},
#if !defined(__SANITIZE_ADDRESS__)
    /* LeakSanitizer traces the worker's own threads from a helper it
     * clones at exit; everywhere else no one traces anyone. */
    {"ptrace", EPERM},
#endif
};

#define SANDBOX_RULES (sizeof s_refused / sizeof s_refused[0])

static int s_fail(char *err, size_t errlen, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static int s_fail(char *err, size_t errlen, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vsnprintf(err, errlen, format, args);
    va_end(args);
    return -1;
}

/* The comparison "first argument OP a" (for SCMP_CMP_MASKED_EQ: "first
 * argument & a == b"). libseccomp's SCMP_A0() leaves datum_b out, which
 * clang's -Wmissing-field-initializers refuses. */
static struct scmp_arg_cmp s_arg0(enum scmp_compare op, scmp_datum_t a, scmp_datum_t b)
{
    return (struct scmp_arg_cmp){.arg = 0, .op = op, .datum_a = a, .datum_b = b};
}

/* Adds "refuse NAME with ERROR when the argument compares so". */
static int s_refuse_if(scmp_filter_ctx filter, const char *name, int error,
                       struct scmp_arg_cmp compare)
{
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) {
        return 0;
    }
    return seccomp_rule_add(filter, SCMP_ACT_ERRNO((uint32_t)error), nr, 1, compare);
}

int policy_sandbox_enter(char *err, size_t errlen)
{
    scmp_filter_ctx filter = seccomp_init(SCMP_ACT_ALLOW);
    if (filter == NULL) {
        return s_fail(err, errlen, "seccomp_init failed");
    }
    const char *failed = NULL;
    int rc = 0;
    for (size_t i = 0; i < SANDBOX_RULES && rc == 0; i++) {
        int nr = seccomp_syscall_resolve_name(s_refused[i].name);
        if (nr == __NR_SCMP_ERROR) {
            continue; /* not on this architecture */
        }
        rc = seccomp_rule_add(filter, SCMP_ACT_ERRNO((uint32_t)s_refused[i].error), nr, 0);
        failed = s_refused[i].name;
    }
    /* Signals, and the calls that queue them, only to this process: a
     * plugin must not stop or kill triage, its parent, or anyone else
     * (kill(0, ...) and kill(-1, ...) included). raise() and abort() use
     * tgkill on this process and keep working. */
    const scmp_datum_t self = (scmp_datum_t)getpid();
    static const char *const s_signalling[] = {"kill", "tgkill", "rt_sigqueueinfo",
                                               "rt_tgsigqueueinfo"};
    for (size_t i = 0; i < sizeof s_signalling / sizeof s_signalling[0] && rc == 0; i++) {
        rc = s_refuse_if(filter, s_signalling[i], EPERM, s_arg0(SCMP_CMP_NE, self, 0));
        failed = s_signalling[i];
    }
    /* clone is how threads are made; a clone that is not a thread is a new
     * process. */
#if !defined(__SANITIZE_ADDRESS__)
    if (rc == 0) {
        rc = s_refuse_if(filter, "clone", EPERM, s_arg0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0));
        failed = "clone";
    }
    if (rc == 0) {
        rc = s_refuse_if(filter, "prctl", EPERM, s_arg0(SCMP_CMP_EQ, PR_SET_PTRACER, 0));
        failed = "prctl(PR_SET_PTRACER)";
    }
#endif
    /* The worker made itself undumpable (no core, no ptrace by the user's
     * other processes); a plugin may not undo that. */
    if (rc == 0) {
        rc = s_refuse_if(filter, "prctl", EPERM, s_arg0(SCMP_CMP_EQ, PR_SET_DUMPABLE, 0));
        failed = "prctl(PR_SET_DUMPABLE)";
    }
    if (rc != 0) {
        seccomp_release(filter);
        return s_fail(err, errlen, "seccomp rule for %s: %s", failed, strerror(-rc));
    }
    rc = seccomp_load(filter);
    seccomp_release(filter);
    if (rc != 0) {
        return s_fail(err, errlen, "seccomp_load: %s", strerror(-rc));
    }
    return 0;
}
