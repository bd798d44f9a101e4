/* A process that its launcher counts as one of N > 1 tasks, but that MPI put in a world of its own, is
 * a mis-launch (an MPI other than the one cnn_ddp was built with, or srun without an MPI plugin): N
 * such copies would each train alone and race on the same checkpoint directory. */
#include "cnn_ddp/comm.h"

#include <stdlib.h>
#include <string.h>

/* Closest launcher first: the first variable present decides. Not in the list:
 * - SLURM_NTASKS: in an sbatch script it is the allocation's task count, and a plain `cnn_ddp` there is
 *   legitimately one process. srun sets SLURM_STEP_NUM_TASKS for its tasks; the batch step never has it
 *   (Slurm's env_array_for_batch_job sets SLURM_NTASKS only; env_array_for_step sets the STEP_ ones).
 * - PMIX_*: PMIx puts the rank (PMIX_RANK) but no job size in the environment (Open MPI 4.1, Slurm). */
static const struct {
    const char *var, *fix;
} launchers[] = {
    {"OMPI_COMM_WORLD_SIZE", "Open MPI's mpirun started it, but cnn_ddp is built with another MPI: "
                             "use the mpirun of the MPI it was built with"},
    {"PMI_SIZE", "a PMI launcher (MPICH's mpiexec/Hydra, srun --mpi=pmi2) started it, but cnn_ddp's MPI "
                 "did not join that job: use the mpirun of the MPI cnn_ddp was built with, or srun --mpi=pmix"},
    {"SLURM_STEP_NUM_TASKS", "srun started the tasks without connecting their MPI: use srun --mpi=pmix "
                             "(srun --mpi=list shows the plugins), or mpirun inside the allocation"},
};

static const char *env_value(char *const *envp, const char *name)
{
    const size_t n = strlen(name);
    for (; envp && *envp; envp++)
        if (!strncmp(*envp, name, n) && (*envp)[n] == '=') return *envp + n + 1;
    return NULL;
}

const char *cd_comm_one_node_pml(char *const *envp)
{
    const char *world = env_value(envp, "OMPI_COMM_WORLD_SIZE"), *local = env_value(envp, "OMPI_COMM_WORLD_LOCAL_SIZE");
    if (!world || !*world || !local || strcmp(world, local) != 0) return NULL; /* not mpirun, or several nodes */
    if (env_value(envp, "OMPI_MCA_pml")) return NULL; /* the user's choice (mpirun --mca pml X sets it) */
    return "ob1";
}

cd_status cd_comm_check_world(char *const *envp, int world_size, cd_error *err)
{
    for (size_t i = 0; i < sizeof launchers / sizeof launchers[0]; i++) {
        const char *v = env_value(envp, launchers[i].var);
        if (!v || !*v) continue;
        char *end;
        const long n = strtol(v, &end, 10);
        if (*end || n < 1) continue; /* not a count: say nothing rather than guess */
        if (n > 1 && world_size == 1)
            return CD_FAIL(err, CD_E_USAGE, "%s=%ld says this is one of %ld processes, but MPI started a world of 1: %s",
                           launchers[i].var, n, n, launchers[i].fix);
        return CD_OK;
    }
    return CD_OK;
}
