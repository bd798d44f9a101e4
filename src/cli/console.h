/* The reporter of a training run on rank 0's stdout and stderr: a live progress bar on a terminal
 * (when the process was started directly: under mpirun a rank's stdout is a pseudo-terminal whatever
 * mpirun writes to), plain lines otherwise, only errors and the final line with --quiet. */
#ifndef CNN_DDP_SRC_CONSOLE_H
#define CNN_DDP_SRC_CONSOLE_H

#include "cnn_ddp/report.h"

typedef struct cd_console {
    int quiet;
    int verbose;     /* the banner adds each conv layer's kernel plan */
    int bar;         /* draw the live bar */
    double last_bar; /* when it was last drawn */
} cd_console;

/* A reporter over `console` (which must outlive it). */
cd_reporter cd_console_reporter(cd_console *console, int quiet, int verbose, int progress_bar);

#endif
