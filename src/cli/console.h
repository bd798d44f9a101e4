/* The reporter of a training run on rank 0's stdout and stderr: a live progress bar fitted to the
 * terminal (--progress bar), a plain progress line every --progress-every seconds (lines), or only the
 * epoch lines (none); only errors and the final line with --quiet. Under mpirun a rank's stdout is a
 * pseudo-terminal whatever mpirun writes to (a log file, a Slurm job), and under srun a pipe, so
 * --progress auto picks the bar only for a process started directly on a terminal. */
#ifndef CNN_DDP_SRC_CONSOLE_H
#define CNN_DDP_SRC_CONSOLE_H

#include "cnn_ddp/config.h"
#include "cnn_ddp/report.h"

typedef struct cd_console {
    int quiet;
    int verbose;           /* the banner adds each conv layer's kernel plan */
    cd_progress_mode mode; /* BAR, LINES or NONE (auto resolved) */
    double every;          /* LINES: seconds between lines */
    int bar_shown;         /* the bar is on the screen: clear its line before other output */
    double last_draw;      /* when the bar or the last line was drawn */
    double t_first;        /* the first step's report: the total ETA's clock starts there */
    int64_t step_first;
} cd_console;

/* What --progress auto means for this process: BAR when stdout is a terminal and no launcher started
 * it, LINES otherwise. Other modes are returned as they are. */
cd_progress_mode cd_console_resolve(cd_progress_mode asked, int stdout_is_tty, int under_launcher);

/* A reporter over `console` (which must outlive it). mode: resolved (not AUTO). */
cd_reporter cd_console_reporter(cd_console *console, int quiet, int verbose, cd_progress_mode mode, double every);

/* Clears the bar's line (when it is shown) before the caller prints something else: main's errors. */
void cd_console_clear(cd_console *console);

/* The bar for p at `width` columns (at most width - 1 characters, so the cursor never wraps), with the
 * total ETA from the run's wall-clock rate `steps_per_s` (0: unknown). Public for the tests. */
void cd_console_format_bar(const cd_progress *p, double steps_per_s, int width, char *out, size_t size);
/* One --progress lines line (no newline). */
void cd_console_format_line(const cd_progress *p, double steps_per_s, char *out, size_t size);

#endif
