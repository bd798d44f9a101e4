/* Fault injection for the robustness tests, from CNN_DDP_FAULT="KIND:RANK:STEP" with KIND one of nan
 * (a NaN gradient), perturb (flip a weight bit after the update), stall (hang before the reduction),
 * loadstop (SIGSTOP itself just before reading its rows of the data: train and eval) or stopstall
 * (hang on the way out after a stop signal, before the stop's first collective) or sigterm (raise
 * SIGTERM at the start of step STEP, so the stop lands after that step: a stop at an exact epoch end).
 * STEP is ignored by loadstop and stopstall. Read once at start-up; inert unless the variable is set. Public so that
 * `cnn_ddp eval` (cli) has the same fault points. */
#ifndef CNN_DDP_FAULT_H
#define CNN_DDP_FAULT_H

#include <stdint.h>

typedef enum { CD_FAULT_NONE, CD_FAULT_NAN, CD_FAULT_PERTURB, CD_FAULT_STALL, CD_FAULT_LOADSTOP, CD_FAULT_STOPSTALL,
               CD_FAULT_SIGTERM } cd_fault_kind;

typedef struct cd_fault {
    cd_fault_kind kind;
    int rank;
    int64_t step;
} cd_fault;

cd_fault cd_fault_from_env(void);
/* Whether fault `kind` strikes `rank` at `step`. */
int cd_fault_hits(const cd_fault *f, cd_fault_kind kind, int rank, int64_t step);
/* Sleeps while the stall fault holds (forever, until the watchdog ends the process). */
void cd_fault_stall(const cd_fault *f, int rank, int64_t step);
/* loadstop on `rank`: raise(SIGSTOP), as if the operator or a debugger had stopped the process. */
void cd_fault_loadstop(const cd_fault *f, int rank);
/* stopstall on `rank`: sleeps forever (until the watchdog or the launcher ends the process). */
void cd_fault_stopstall(const cd_fault *f, int rank);
/* sigterm on `rank` at `step`: raise(SIGTERM), as a scheduler's stop would arrive. */
void cd_fault_sigterm(const cd_fault *f, int rank, int64_t step);
/* Flips the lowest bit of the first float: a silent divergence between ranks. */
void cd_fault_perturb(float *params);

#endif
