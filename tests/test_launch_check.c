/* cd_comm_check_world: a launcher that counts N > 1 processes while MPI says 1 is refused, naming the
 * variable; the batch-script case (SLURM_NTASKS only) and matching or unusable counts are accepted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "cnn_ddp/comm.h"
#include "test_support.h"

/* The status for envp and world size; the message goes to msg. */
static cd_status check(char *const *envp, int world, char *msg)
{
    cd_error err = {0};
    cd_status st = cd_comm_check_world(envp, world, &err);
    strcpy(msg, st == CD_OK ? "" : err.msg);
    return st;
}

static void test_refused(void **state)
{
    (void)state;
    char msg[1024];
    char *ompi[] = {"HOME=/root", "OMPI_COMM_WORLD_SIZE=4", NULL};
    assert_int_equal(check(ompi, 1, msg), CD_E_USAGE);
    assert_non_null(strstr(msg, "OMPI_COMM_WORLD_SIZE=4"));
    assert_non_null(strstr(msg, "world of 1"));
    char *pmi[] = {"PMI_SIZE=3", "PMI_RANK=1", NULL};
    assert_int_equal(check(pmi, 1, msg), CD_E_USAGE);
    assert_non_null(strstr(msg, "PMI_SIZE=3"));
    char *srun[] = {"SLURM_NTASKS=2", "SLURM_STEP_NUM_TASKS=2", "SLURM_STEP_ID=0", NULL};
    assert_int_equal(check(srun, 1, msg), CD_E_USAGE);
    assert_non_null(strstr(msg, "SLURM_STEP_NUM_TASKS=2"));
    assert_non_null(strstr(msg, "srun --mpi=pmix"));
}

static void test_accepted(void **state)
{
    (void)state;
    char msg[1024];
    char *none[] = {"HOME=/root", NULL};
    assert_int_equal(check(none, 1, msg), CD_OK);
    assert_int_equal(check(NULL, 1, msg), CD_OK);
    /* An sbatch script: the allocation's SLURM_NTASKS, no step variables, one process. */
    char *batch[] = {"SLURM_NTASKS=8", "SLURM_JOB_ID=7", "ENVIRONMENT=BATCH", NULL};
    assert_int_equal(check(batch, 1, msg), CD_OK);
    /* A real N-rank job. */
    char *ompi[] = {"OMPI_COMM_WORLD_SIZE=4", NULL};
    assert_int_equal(check(ompi, 4, msg), CD_OK);
    /* mpirun -np 1 from a shell inside a 4-task srun step: the closest launcher (mpirun) decides. */
    char *nested[] = {"SLURM_STEP_NUM_TASKS=4", "OMPI_COMM_WORLD_SIZE=1", NULL};
    assert_int_equal(check(nested, 1, msg), CD_OK);
    /* Not a count, or a prefix of another name: no guess. */
    char *junk[] = {"PMI_SIZE=three", "PMI_SIZEX=5", "OMPI_COMM_WORLD_SIZE=", NULL};
    assert_int_equal(check(junk, 1, msg), CD_OK);
}

/* One node under mpirun: ob1, unless a PML was chosen; several nodes or another launcher: no choice. */
static void test_one_node_pml(void **state)
{
    (void)state;
    char *one_node[] = {"OMPI_COMM_WORLD_SIZE=4", "OMPI_COMM_WORLD_LOCAL_SIZE=4", NULL};
    assert_string_equal(cd_comm_one_node_pml(one_node), "ob1");
    char *chosen[] = {"OMPI_COMM_WORLD_SIZE=2", "OMPI_COMM_WORLD_LOCAL_SIZE=2", "OMPI_MCA_pml=ucx", NULL};
    assert_null(cd_comm_one_node_pml(chosen));
    char *excluded[] = {"OMPI_MCA_pml=^cm", "OMPI_COMM_WORLD_SIZE=2", "OMPI_COMM_WORLD_LOCAL_SIZE=2", NULL};
    assert_null(cd_comm_one_node_pml(excluded));
    char *two_nodes[] = {"OMPI_COMM_WORLD_SIZE=8", "OMPI_COMM_WORLD_LOCAL_SIZE=4", NULL};
    assert_null(cd_comm_one_node_pml(two_nodes));
    char *srun[] = {"SLURM_STEP_NUM_TASKS=2", "PMIX_RANK=0", NULL};
    assert_null(cd_comm_one_node_pml(srun));
    char *no_local[] = {"OMPI_COMM_WORLD_SIZE=2", NULL};
    assert_null(cd_comm_one_node_pml(no_local));
    assert_null(cd_comm_one_node_pml(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_accepted),
        cmocka_unit_test(test_one_node_pml),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
