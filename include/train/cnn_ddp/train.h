/* The training run: data-parallel SGD over the ranks of a cd_comm, with evaluation, metrics and
 * checkpoints. Results depend on (data, model, seed, global batch, lr, momentum, kernel set) only,
 * never on the number of ranks or on where a run was stopped and resumed. */
#ifndef CNN_DDP_TRAIN_H
#define CNN_DDP_TRAIN_H

#include "cnn_ddp/comm.h"
#include "cnn_ddp/config.h"
#include "cnn_ddp/error.h"
#include "cnn_ddp/report.h"
#include "cnn_ddp/watchdog.h"

/* Collective: every rank of `comm` calls it. `reporter` (rank 0's is used; may be NULL) hears the
 * run's progress. Returns CD_E_STOPPED when a SIGINT/SIGTERM stopped it (after checkpointing). */
cd_status cd_train_run(const cd_train_config *cfg, cd_comm *comm, const cd_reporter *reporter, cd_error *err);
/* The same, beating the caller's running `watchdog` (main's, which covers MPI_Init and MPI_Finalize
 * too) instead of a watchdog of its own for the run; NULL: cd_train_run. */
cd_status cd_train_run_watched(const cd_train_config *cfg, cd_comm *comm, const cd_reporter *reporter,
                               cd_watchdog *watchdog, cd_error *err);

#endif
