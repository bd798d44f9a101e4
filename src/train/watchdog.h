#ifndef CNN_DDP_SRC_WATCHDOG_H
#define CNN_DDP_SRC_WATCHDOG_H
#include <pthread.h>
#include <stdatomic.h>
#include "cnn_ddp/error.h"

/* A thread that ends the process when the training loop stops making progress (a peer rank is stuck,
 * or the network hangs): a blocked collective would otherwise wait forever. Exiting non-zero makes
 * mpirun tear down the whole job. */
typedef struct cd_watchdog {
    pthread_t thread;
    atomic_llong last_beat_ms;
    atomic_int quit;
    double timeout_s;
    int rank;
    int running;
} cd_watchdog;

cd_status cd_watchdog_start(cd_watchdog *w, double timeout_s, int rank, cd_error *err);
void cd_watchdog_beat(cd_watchdog *w);
void cd_watchdog_stop(cd_watchdog *w);
#endif
