/* How much memory this process may use, and whether a run's planned allocations fit, checked before
 * anything big is allocated: a run over a memory cgroup's limit is otherwise SIGKILLed without a word. */
#ifndef CNN_DDP_MEMORY_LIMIT_H
#define CNN_DDP_MEMORY_LIMIT_H

#include "cnn_ddp/error.h"

/* The share of a limit a run may plan to use: the rest is for the libraries, the HDF5 chunk cache, the
 * stack and what the plan does not count (a few MB). */
#define CD_MEMORY_MARGIN 0.9

typedef struct cd_memory_limit {
    double bytes;      /* what this rank may use; 0: no limit known (nothing is checked) */
    char source[160];  /* where it came from, for the message: "cgroup memory.max of /user.slice" ... */
} cd_memory_limit;

/* "0", "none": no check; "512M", "2G", "1.5GiB", "100000" (bytes); K, M, G, T are powers of 1024. */
cd_status cd_memory_parse_size(const char *text, const char *what, double *bytes, cd_error *err);

/* The limit for one of `local_ranks` ranks sharing a node: `override` when it is not empty (a size for
 * cd_memory_parse_size, named `override_name` in messages), else the tightest of the cgroup v2 limits
 * (memory.max minus memory.current, over this process's cgroup and its parents), /proc/meminfo's
 * MemAvailable and RLIMIT_AS, divided among the local ranks. `root` prefixes /proc and /sys ("" on a
 * real system; a test's directory of fake files). A file that is missing or unreadable is skipped. */
cd_status cd_memory_limit_find(const char *root, const char *override, const char *override_name, int local_ranks,
                               cd_memory_limit *out, cd_error *err);

/* Ranks of this job on this node, from the launcher's environment (Open MPI, MPICH/Hydra, Slurm); 1
 * when not under a launcher. */
int cd_memory_local_ranks(void);

/* A run's planned allocations, by what they are for. */
enum { CD_MEMORY_PARTS = 8 };
typedef struct cd_memory_plan {
    int n;
    struct {
        char what[160];
        double bytes;
    } part[CD_MEMORY_PARTS];
} cd_memory_plan;

void cd_memory_plan_add(cd_memory_plan *plan, double bytes, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
double cd_memory_plan_total(const cd_memory_plan *plan);

/* CD_E_USAGE when the plan needs more than CD_MEMORY_MARGIN of the limit: "needs about 6.3 GiB, more
 * than the 2.0 GiB this rank may use (source): the biggest part is <what> (4.8 GiB); <hint>". */
cd_status cd_memory_check(const cd_memory_plan *plan, const cd_memory_limit *limit, const char *hint, cd_error *err);

/* "512 B", "3.1 MiB", "6.30 GiB". */
void cd_memory_format(double bytes, char *buf, size_t size);

#endif
