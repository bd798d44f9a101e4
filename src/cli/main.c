/* cnn_ddp: the only place a status becomes an exit. Under mpirun every rank runs this; only rank 0
 * prints, and a failure that may leave other ranks waiting ends the whole job with MPI_Abort. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cnn_ddp/cli.h"
#include "cnn_ddp/comm.h"
#include "cnn_ddp/signals.h"
#include "cnn_ddp/train.h"
#include "cnn_ddp/watchdog.h"
#include "console.h"
#include "subcommands.h"

extern char **environ; /* POSIX: the program declares it */

int main(int argc, char **argv)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* Into a file, stdout is line-buffered like on a terminal, so its lines keep their order with
     * stderr's (unbuffered) in a shared log: "first step done" lands where it happened. (A pipe keeps
     * the block buffer: `cnn_ddp help | head -1` must not die of SIGPIPE; the reporter flushes each
     * line of a run itself.) */
    struct stat out_st;
    if (fstat(STDOUT_FILENO, &out_st) == 0 && S_ISREG(out_st.st_mode)) setvbuf(stdout, NULL, _IOLBF, 0);
    cd_train_config *cfg = calloc(1, sizeof *cfg);
    cd_error err = {0};
    cd_cli_action action;
    if (!cfg) {
        fprintf(stderr, "cnn_ddp: error: out of memory\n");
        return 1;
    }
    if (argc >= 2 && (!strcmp(argv[1], "eval") || !strcmp(argv[1], "predict"))) {
        free(cfg);
        return !strcmp(argv[1], "eval") ? cd_cli_eval_main(argc - 1, argv + 1) : cd_cli_predict_main(argc - 1, argv + 1);
    }
    if (argc >= 2 && (!strcmp(argv[1], "info") || !strcmp(argv[1], "help"))) {
        free(cfg);
        return !strcmp(argv[1], "info") ? cd_cli_info_main(argc - 1, argv + 1) : cd_cli_help_main(argc - 1, argv + 1);
    }
    cd_cli_warnings warnings;
    cd_status st = cd_cli_parse(argc - 1, argv + 1, environ, cfg, &action, &warnings, &err);
    int quiet_rank = cd_cli_launcher_rank() != 0;
    for (const char *w = warnings.text; *w && !quiet_rank; w = strchr(w, '\n') + 1)
        fprintf(stderr, "cnn_ddp: warning: %.*s\n", (int)strcspn(w, "\n"), w);
    if (st != CD_OK) {
        if (!quiet_rank) fprintf(stderr, "cnn_ddp: error: %s\n", err.msg);
        free(cfg);
        return cd_status_exit_code(st);
    }
    if (action != CD_CLI_TRAIN) {
        if (!quiet_rank && action == CD_CLI_HELP) {
            fputs(cd_cli_usage(), stdout);
            cd_cli_print_subcommands(stdout);
        }
        if (!quiet_rank && action == CD_CLI_VERSION) puts("cnn_ddp " CNN_DDP_VERSION);
        free(cfg);
        return 0;
    }

    /* From before MPI_Init to after MPI_Finalize: a rank that never arrives (stopped, swapped out, its
     * node gone) leaves the others waiting in MPI_Init, the first collective or MPI_Finalize, and only
     * this process can bound that under any launcher (mpirun, srun, a hand-written script). */
    cd_watchdog watchdog;
    if (cd_watchdog_start(&watchdog, cfg->timeout_s, cd_cli_launcher_rank(), &err) != CD_OK) {
        fprintf(stderr, "cnn_ddp: error: %s\n", err.msg);
        free(cfg);
        return 1;
    }
    cd_watchdog_phase(&watchdog, "in MPI_Init");
    cd_comm comm;
    if (cd_comm_under_launcher()) {
        st = cd_comm_mpi(&argc, &argv, &comm, &err);
        if (st != CD_OK) {
            fprintf(stderr, "cnn_ddp: error: %s\n", err.msg);
            free(cfg);
            return 1;
        }
    } else {
        cd_comm_self(&comm);
    }
    cd_watchdog_phase(&watchdog, "while training");
    /* Before any file is touched: N copies that each think they are alone would share one ckpt dir. */
    st = cd_comm_check_world(environ, comm.size, &err);
    if (st != CD_OK) {
        if (!quiet_rank) fprintf(stderr, "cnn_ddp: error: %s\n", err.msg);
        cd_watchdog_phase(&watchdog, "in MPI_Finalize");
        comm.finalize(&comm);
        cd_watchdog_stop(&watchdog);
        free(cfg);
        return cd_status_exit_code(st);
    }
    cd_signals_install();
    cfg->process_start = (double)t0.tv_sec + (double)t0.tv_nsec * 1e-9;
    /* Under mpirun a rank's stdout is a pseudo-terminal whatever mpirun's own output is (a log file, a
     * Slurm job), so only a process started directly can know it is on a terminal: --progress auto is
     * the bar then, plain lines otherwise. */
    cd_console console;
    const cd_progress_mode progress =
        cd_console_resolve(cfg->progress, isatty(STDOUT_FILENO), cd_comm_under_launcher());
    const cd_reporter reporter = cd_console_reporter(&console, cfg->quiet, cfg->verbose, progress, cfg->progress_every);
    st = cd_train_run_watched(cfg, &comm, &reporter, &watchdog, &err);
    cd_watchdog_phase(&watchdog, "agreeing on the exit status");
    int code = cd_status_exit_code(st);
    if (st == CD_E_STOPPED) {
        /* Every rank stopped at the same step, but maybe not every rank got the signal: all exit with
         * the lowest signalled rank's 128+signo, so mpirun (which reports the first non-zero exit) and
         * a requeue script see 143 or 130 whichever rank exits first. */
        uint64_t signo = 0;
        if (cd_comm_first_nonzero(&comm, (uint64_t)cd_signals_pending(), &signo, &err) != CD_OK) st = CD_E_COMM;
        code = st == CD_E_COMM ? 1 : 128 + (int)(signo ? signo : SIGTERM);
    }
    if (comm.rank == 0) cd_console_clear(&console);
    if (st != CD_OK && st != CD_E_STOPPED && comm.rank == 0) fprintf(stderr, "cnn_ddp: error: %s\n", err.msg);
    if (st == CD_E_COMM || st == CD_E_INTERNAL || st == CD_E_NOMEM) {
        /* Other ranks may be blocked in a collective: end them all. */
        if (comm.rank != 0) fprintf(stderr, "cnn_ddp: error: rank %d: %s\n", comm.rank, err.msg);
        fflush(stderr);
        comm.abort(&comm, code);
    }
    fflush(stdout);
    cd_watchdog_phase(&watchdog, "in MPI_Finalize");
    comm.finalize(&comm);
    cd_watchdog_stop(&watchdog);
    free(cfg);
    return code;
}
