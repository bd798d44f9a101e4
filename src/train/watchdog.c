/* Progress watchdog: see cnn_ddp/watchdog.h. */
#include "cnn_ddp/watchdog.h"
#include "cnn_ddp/error.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *watch(void *arg)
{
    cd_watchdog *w = arg;
    while (!atomic_load(&w->quit)) {
        struct timespec nap = {0, 200 * 1000000L};
        nanosleep(&nap, NULL);
        long long idle = now_ms() - atomic_load(&w->last_beat_ms);
        if (idle > (long long)(w->timeout_s * 1000.0)) {
            fprintf(stderr,
                    "cnn_ddp: error: rank %d: no progress for %.0f s %s (another rank is stuck or dead, or the "
                    "network hangs); ending the job (--timeout to change the limit)\n",
                    w->rank, (double)idle / 1000.0, atomic_load(&w->phase));
            fflush(stderr);
            _exit(CD_EXIT_RESTARTABLE); /* a stuck or dead peer: launch/elastic.sh restarts without it */
        }
    }
    return NULL;
}

cd_status cd_watchdog_start(cd_watchdog *w, double timeout_s, int rank, cd_error *err)
{
    w->timeout_s = timeout_s;
    w->rank = rank;
    w->running = 0;
    atomic_store(&w->quit, 0);
    atomic_store(&w->phase, "while running");
    atomic_store(&w->last_beat_ms, now_ms());
    if (timeout_s <= 0) return CD_OK;
    if (pthread_create(&w->thread, NULL, watch, w) != 0)
        return CD_FAIL(err, CD_E_INTERNAL, "could not start the watchdog thread");
    w->running = 1;
    return CD_OK;
}

void cd_watchdog_beat(cd_watchdog *w) { atomic_store(&w->last_beat_ms, now_ms()); }

const char *cd_watchdog_phase(cd_watchdog *w, const char *phase)
{
    const char *before = atomic_exchange(&w->phase, phase);
    cd_watchdog_beat(w);
    return before;
}

void cd_watchdog_beat_cb(void *ctx)
{
    if (ctx) cd_watchdog_beat(ctx);
}

void cd_watchdog_stop(cd_watchdog *w)
{
    if (!w->running) return;
    atomic_store(&w->quit, 1);
    pthread_join(w->thread, NULL);
    w->running = 0;
}
