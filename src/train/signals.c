/* SIGINT/SIGTERM -> a flag the training loop reads at each step boundary, so every rank stops at the
 * same step (the flag travels with the gradient reduction) and rank 0 can checkpoint first. */
#include <signal.h>
#include <string.h>

#include "cnn_ddp/signals.h"

static volatile sig_atomic_t stop_signal; /* the only mutable global: a handler has nowhere else to write */

static void on_signal(int signo) { stop_signal = signo; }

void cd_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int cd_signals_pending(void) { return (int)stop_signal; }
