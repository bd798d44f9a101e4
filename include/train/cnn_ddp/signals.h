/* SIGINT/SIGTERM set a flag checked at step boundaries. (A signal handler can only talk to the program
 * through a static flag: this is the one piece of global mutable state.) */
#ifndef CNN_DDP_SIGNALS_H
#define CNN_DDP_SIGNALS_H

void cd_signals_install(void);
/* The signal number received (SIGINT, SIGTERM), or 0. */
int cd_signals_pending(void);

#endif
