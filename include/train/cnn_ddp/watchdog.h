/* A thread that ends the process when it stops making progress (a peer rank is stuck or dead, the
 * network hangs, or MPI_Init waits for a rank that never comes): a blocked collective would otherwise
 * wait forever. Exiting non-zero makes the launcher tear down the whole job. main starts it before
 * MPI_Init and stops it after MPI_Finalize, so every wait of the process is bounded; long local work
 * (loading data, evaluating, a step) beats it. */
#ifndef CNN_DDP_WATCHDOG_H
#define CNN_DDP_WATCHDOG_H
#include <pthread.h>
#include <stdatomic.h>
#include "cnn_ddp/error.h"

/* The smallest and largest --timeout (0 turns the watchdog off). The floor is over three times the
 * longest wait between two beats a healthy run had on the 2-core dev VM under load ~2.5: process
 * start to the end of the first step with 3 oversubscribed ranks 0.46-0.54 s (MPI_Init, data load
 * and one step), one step of the exercise net at --batch 4096 on one rank ~1.2 s (first: 1.48 s);
 * a value below it would only end healthy jobs. No step takes a day. */
#define CD_WATCHDOG_MIN_S 5.0
#define CD_WATCHDOG_MAX_S 86400.0

typedef struct cd_watchdog {
    pthread_t thread;
    atomic_llong last_beat_ms;
    _Atomic(const char *) phase; /* what the process is doing, for the message: "in MPI_Init" */
    atomic_int quit;
    double timeout_s;
    int rank;
    int running;
} cd_watchdog;

/* timeout_s 0: no thread, every call below does nothing. `rank` names the process in the message
 * (before MPI_Init: the launcher's rank). */
cd_status cd_watchdog_start(cd_watchdog *w, double timeout_s, int rank, cd_error *err);
void cd_watchdog_beat(cd_watchdog *w);
/* A beat, and `phase` (a string literal) for the message from now on; returns the phase before, so a
 * step that names its own ("in NCCL init") can put the caller's back. */
const char *cd_watchdog_phase(cd_watchdog *w, const char *phase);
/* For callbacks: ctx is a cd_watchdog * (or NULL). */
void cd_watchdog_beat_cb(void *ctx);
void cd_watchdog_stop(cd_watchdog *w);
#endif
