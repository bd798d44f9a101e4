/* Status codes and the error record every library function fills in.
 * Library code never exits: it returns a cd_status and leaves a one-line message in a cd_error.
 * Only main() turns a status into an exit code (and, under MPI, into MPI_Abort). */
#ifndef CNN_DDP_ERROR_H
#define CNN_DDP_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cd_status {
    CD_OK = 0,
    CD_E_USAGE,    /* bad flag or option value                       -> exit 2 */
    CD_E_INPUT,    /* bad data file, model spec, checkpoint or image -> exit 2 */
    CD_E_IO,       /* the OS refused a read/write/rename/fsync       -> exit 1 */
    CD_E_NOMEM,    /* allocation failed                              -> exit 1 */
    CD_E_NUMERIC,  /* NaN/Inf in loss or gradients, overflow, ranks' weights diverged -> exit 1 */
    CD_E_COMM,     /* MPI/NCCL failure, a peer lost                  -> exit 75 (MPI_Abort) */
    CD_E_INTERNAL, /* a broken invariant: a bug                      -> exit 1 */
    CD_E_STOPPED,  /* stopped by SIGINT/SIGTERM after checkpointing  -> exit 130/143 */
} cd_status;

/* The exit status of a failure a restart on the ranks still there may cure (sysexits' EX_TEMPFAIL): a
 * communication failure or lost peer (CD_E_COMM), or the watchdog ending a rank that made no progress.
 * launch/elastic.sh restarts on it; 1 and 2 (input, NaN, I/O, a bug) it never restarts. */
#define CD_EXIT_RESTARTABLE 75

typedef struct cd_error {
    cd_status code;
    const char *file; /* where the error was raised (for internal errors) */
    int line;
    char msg[1024];   /* one line, no trailing newline, names the thing and the problem */
} cd_error;

/* Records the error and returns `code`, so callers can write `return CD_FAIL(err, ...)`. */
cd_status cd_error_set(cd_error *err, cd_status code, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Prepends formatted context to an existing message: "rank 3: " + "<old message>". */
void cd_error_prefix(cd_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define CD_FAIL(err, code, ...) cd_error_set((err), (code), __FILE__, __LINE__, __VA_ARGS__)

/* Propagate a failed status unchanged (the message is already in the cd_error). */
#define CD_TRY(expr)                                                                               \
    do {                                                                                           \
        cd_status cd_try_status_ = (expr);                                                         \
        if (cd_try_status_ != CD_OK) return cd_try_status_;                                        \
    } while (0)

/* Allocation that reports file and line: `CD_ALLOC(err, p, count)` allocates count elements of *p,
 * zeroed and 64-byte aligned, and returns CD_E_NOMEM from the enclosing function on failure. */
void *cd_alloc_zeroed(size_t bytes);
#define CD_ALLOC(err, ptr, count)                                                                  \
    do {                                                                                           \
        (ptr) = cd_alloc_zeroed(sizeof(*(ptr)) * (size_t)(count));                                 \
        if ((ptr) == NULL && (count) > 0)                                                          \
            return CD_FAIL((err), CD_E_NOMEM, "out of memory allocating %zu bytes",               \
                           sizeof(*(ptr)) * (size_t)(count));                                      \
    } while (0)
void cd_free(void *ptr);

const char *cd_status_name(cd_status code);
int cd_status_exit_code(cd_status code);

#ifdef __cplusplus
}
#endif

#endif
