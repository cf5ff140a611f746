/* policy_sandbox.h: the syscall filter the policy worker puts itself under
 * before it loads any region plugin.
 *
 * A region's plugin is code vigil did not write, running beside the
 * pseudonymous views of every case of its region. The filter (seccomp, via
 * libseccomp) takes away what such code never needs and could abuse: making
 * sockets (so no network), starting programs or processes, tracing or
 * reading other processes, signalling any process but itself (triage is
 * its parent), io_uring (which would get round the filter), and the
 * kernel's administrative calls. A refused call fails with EPERM (ENOSYS
 * for clone3, so libc falls back to clone); the worker lives on and the
 * plugin sees an ordinary error. Threads, memory, time, reading files and
 * loading shared objects stay allowed. The filter cannot be lifted: it is
 * inherited by every thread and kept across exec (which it refuses
 * anyway), and no_new_privs is set with it.
 *
 * Sanitizer builds leave clone without CLONE_THREAD, ptrace and
 * PR_SET_PTRACER allowed: LeakSanitizer needs them to stop the world at
 * exit. Shipped builds have the whole filter.
 */
#ifndef VIGIL_POLICY_SANDBOX_H
#define VIGIL_POLICY_SANDBOX_H

#include <stddef.h>

/* Puts the calling process under the filter, for good. Call it before any
 * plugin code runs and before any thread is started. Returns 0, or -1 with
 * the reason in err (the kernel or libseccomp refused it); the caller must
 * then not run plugins. */
int policy_sandbox_enter(char *err, size_t errlen);

#endif
