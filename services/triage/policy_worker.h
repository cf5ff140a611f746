/* policy_worker.h: the message loop of vigil-policy-worker.
 *
 * The worker is the only process that runs plugin code. It answers the
 * frames triage sends (policy_wire.h) one at a time, on one thread: HELLO
 * opens the resource directory; LOAD loads a plugin file triage passed as
 * a descriptor and swaps the new instance into its region slot only when
 * it passed every check, init and self_test; LOADS sets open-case loads;
 * ROUTE decides a batch of cases; SHUTDOWN finis every instance. Before
 * every plugin callback it records in the progress page what is running
 * and since when, so triage can blame the right case if it dies or hangs.
 * It writes nothing but its socket and log lines without personal data.
 */
#ifndef VIGIL_TRIAGE_POLICY_WORKER_H
#define VIGIL_TRIAGE_POLICY_WORKER_H

#include "policy_wire.h"

/* Serves `fd` until SHUTDOWN or end of stream. Returns the process exit
 * code: 0 after SHUTDOWN or when triage went away, 70 on a protocol error
 * or allocation failure. */
int policy_worker_run(int fd, policy_progress_t *progress);

#endif
