/* The host-side decisions of a GPU run's set-up, without a GPU: which device each rank takes and when
 * ranks on one GPU are refused, shared or sent to the CPU (src/train/gpu_plan.c), the GPU identity
 * they are told apart by, and CNN_DDP_CUDA_SYNC's values (src/model/cuda_sync_mode.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "model/cuda_sync_mode.h"
#include "test_support.h"
#include "train/gpu_plan.h"

#define BOOT_A "3c1d0b8e-1111-4a4a-9b9b-000000000001"
#define BOOT_B "3c1d0b8e-2222-4a4a-9b9b-000000000002"

static void test_identity(void **state)
{
    (void)state;
    const uint64_t a0 = cd_gpu_identity(BOOT_A, "00000000:3B:00.0");
    assert_int_not_equal(a0, 0);
    assert_true(a0 == cd_gpu_identity(BOOT_A, "00000000:3B:00.0"));
    assert_true(a0 != cd_gpu_identity(BOOT_A, "00000000:5E:00.0")); /* another GPU of the machine */
    assert_true(a0 != cd_gpu_identity(BOOT_B, "00000000:3B:00.0")); /* the same slot on another machine */
    /* the separator keeps "ab" + "c" apart from "a" + "bc" */
    assert_true(cd_gpu_identity("ab", "c") != cd_gpu_identity("a", "bc"));
    assert_int_not_equal(cd_gpu_identity("", ""), 0);
}

/* The plan as rank `rank` of `size` (local rank local_rank, seeing `devices` GPUs) makes it. */
static cd_status plan(cd_device_kind dev, cd_comm_kind comm, const uint64_t *ids, int size, int local_rank, int devices,
                      cd_gpu_plan *p, char *msg)
{
    cd_error err = {0};
    cd_status st = cd_gpu_plan_make(dev, comm, ids, size, local_rank, devices, p, &err);
    strcpy(msg, st == CD_OK ? "" : err.msg);
    return st;
}

/* srun --gpus-per-task=1 (or CUDA_VISIBLE_DEVICES per rank): 4 ranks of a node each see one GPU, their
 * own, as device 0. The old rule (local rank < GPU count) refused local ranks 1-3. */
static void test_one_gpu_per_rank_is_accepted(void **state)
{
    (void)state;
    const char *bus[4] = {"00000000:19:00.0", "00000000:3B:00.0", "00000000:4C:00.0", "00000000:5D:00.0"};
    uint64_t ids[4];
    for (int r = 0; r < 4; r++) ids[r] = cd_gpu_identity(BOOT_A, bus[r]);
    const cd_comm_kind comms[] = {CD_COMM_AUTO, CD_COMM_NCCL, CD_COMM_MPI};
    for (size_t c = 0; c < 3; c++)
        for (int local = 0; local < 4; local++) {
            cd_gpu_plan p;
            char msg[1024];
            assert_int_equal(plan(CD_DEVICE_CUDA, comms[c], ids, 4, local, 1, &p, msg), CD_OK);
            assert_int_equal(p.use_cuda, 1);
            assert_int_equal(p.device, 0);
            assert_int_equal(p.shared, 0);
            assert_int_equal(plan(CD_DEVICE_AUTO, comms[c], ids, 4, local, 1, &p, msg), CD_OK);
            assert_int_equal(p.use_cuda, 1);
            assert_int_equal(p.device, 0);
        }
    /* mpirun on a 4-GPU node: every rank sees all four and takes its local rank's. */
    cd_gpu_plan p;
    char msg[1024];
    assert_int_equal(plan(CD_DEVICE_CUDA, CD_COMM_NCCL, ids, 4, 3, 4, &p, msg), CD_OK);
    assert_int_equal(p.device, 3);
    /* two nodes of 2 GPUs, the same slots on both: not shared */
    const uint64_t two_nodes[4] = {cd_gpu_identity(BOOT_A, bus[0]), cd_gpu_identity(BOOT_A, bus[1]),
                                   cd_gpu_identity(BOOT_B, bus[0]), cd_gpu_identity(BOOT_B, bus[1])};
    assert_int_equal(plan(CD_DEVICE_CUDA, CD_COMM_AUTO, two_nodes, 4, 1, 2, &p, msg), CD_OK);
    assert_int_equal(p.shared, 0);
    assert_int_equal(p.device, 1);
}

/* 4 ranks on a node of 2 GPUs: ranks 0 and 2 on the first, 1 and 3 on the second. */
static void test_shared_gpus_follow_the_policy(void **state)
{
    (void)state;
    const uint64_t g0 = cd_gpu_identity(BOOT_A, "00000000:19:00.0"), g1 = cd_gpu_identity(BOOT_A, "00000000:3B:00.0");
    const uint64_t ids[4] = {g0, g1, g0, g1};
    cd_gpu_plan p;
    char msg[1024];
    /* NCCL cannot put two ranks on one GPU: refused, naming the pair and the ways out */
    assert_int_equal(plan(CD_DEVICE_CUDA, CD_COMM_AUTO, ids, 4, 3, 2, &p, msg), CD_E_USAGE);
    assert_string_equal(msg, "--device cuda: ranks 0 and 2 are on one GPU (the same machine and PCI bus id), and NCCL "
                             "needs a GPU for each rank: start at most as many ranks per node as it has GPUs (srun "
                             "--gpus-per-task=1 or a CUDA_VISIBLE_DEVICES per rank gives each its own), or add --comm "
                             "mpi to let ranks share GPUs");
    assert_int_equal(plan(CD_DEVICE_CUDA, CD_COMM_NCCL, ids, 4, 0, 2, &p, msg), CD_E_USAGE);
    assert_int_equal(plan(CD_DEVICE_AUTO, CD_COMM_NCCL, ids, 4, 0, 2, &p, msg), CD_E_USAGE);
    assert_non_null(strstr(msg, "--comm nccl: ranks 0 and 2 are on one GPU"));
    /* summing through MPI, ranks may share: round-robin, with the note */
    for (int local = 0; local < 4; local++) {
        assert_int_equal(plan(CD_DEVICE_CUDA, CD_COMM_MPI, ids, 4, local, 2, &p, msg), CD_OK);
        assert_int_equal(p.use_cuda, 1);
        assert_int_equal(p.device, local % 2);
        assert_int_equal(p.shared, 1);
        assert_int_equal(p.first, 0);
        assert_int_equal(p.second, 2);
    }
    assert_int_equal(plan(CD_DEVICE_AUTO, CD_COMM_MPI, ids, 4, 1, 2, &p, msg), CD_OK);
    assert_int_equal(p.use_cuda, 1);
    assert_int_equal(p.shared, 1);
    /* auto with the default comm: the CPU, as when there are too few GPUs */
    assert_int_equal(plan(CD_DEVICE_AUTO, CD_COMM_AUTO, ids, 4, 1, 2, &p, msg), CD_OK);
    assert_int_equal(p.use_cuda, 0);
    assert_int_equal(p.device, -1);
    assert_int_equal(p.shared, 0);
    /* ranks on different nodes sharing within each node: the lowest pair is named */
    const uint64_t h0 = cd_gpu_identity(BOOT_B, "00000000:19:00.0");
    const uint64_t mixed[5] = {g0, h0, g1, h0, g1};
    assert_int_equal(plan(CD_DEVICE_CUDA, CD_COMM_AUTO, mixed, 5, 0, 2, &p, msg), CD_E_USAGE);
    assert_non_null(strstr(msg, "ranks 1 and 3 are on one GPU"));
}

static void test_ranks_without_a_gpu(void **state)
{
    (void)state;
    const uint64_t g0 = cd_gpu_identity(BOOT_A, "00000000:19:00.0"), g1 = cd_gpu_identity(BOOT_B, "00000000:19:00.0");
    const uint64_t ids[3] = {g0, 0, g1};
    cd_gpu_plan p;
    char msg[1024];
    /* auto: every rank on the CPU, so that all run the same kernels */
    assert_int_equal(plan(CD_DEVICE_AUTO, CD_COMM_AUTO, ids, 3, 0, 1, &p, msg), CD_OK);
    assert_int_equal(p.use_cuda, 0);
    assert_int_equal(plan(CD_DEVICE_AUTO, CD_COMM_MPI, ids, 3, 0, 1, &p, msg), CD_OK);
    assert_int_equal(p.use_cuda, 0);
    assert_int_equal(plan(CD_DEVICE_AUTO, CD_COMM_NCCL, ids, 3, 0, 1, &p, msg), CD_E_USAGE);
    assert_string_equal(msg, "--comm nccl: --device auto found no GPU for every rank (rank 1 has none)");
    assert_int_equal(plan(CD_DEVICE_CUDA, CD_COMM_MPI, ids, 3, 0, 1, &p, msg), CD_E_USAGE);
    assert_string_equal(msg, "--device cuda: rank 1 has no GPU");
    /* no backend anywhere (a build without CUDA): the CPU */
    const uint64_t none[2] = {0, 0};
    assert_int_equal(plan(CD_DEVICE_AUTO, CD_COMM_AUTO, none, 2, 1, 0, &p, msg), CD_OK);
    assert_int_equal(p.use_cuda, 0);
    assert_int_equal(p.shared, 0);
}

static void test_sync_mode(void **state)
{
    (void)state;
    cd_error err = {0};
    int on = -1;
    assert_int_equal(cd_cuda_sync_mode(NULL, &on, &err), CD_OK);
    assert_int_equal(on, 0);
    assert_int_equal(cd_cuda_sync_mode("", &on, &err), CD_OK);
    assert_int_equal(on, 0);
    assert_int_equal(cd_cuda_sync_mode("0", &on, &err), CD_OK);
    assert_int_equal(on, 0);
    assert_int_equal(cd_cuda_sync_mode("1", &on, &err), CD_OK);
    assert_int_equal(on, 1);
    assert_int_equal(cd_cuda_sync_mode("yes", &on, &err), CD_E_USAGE);
    assert_int_equal(on, 0);
    assert_string_equal(err.msg, "CNN_DDP_CUDA_SYNC=yes: must be 1 (check every CUDA kernel launch) or 0");
    assert_int_equal(cd_cuda_sync_mode("10", &on, &err), CD_E_USAGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity),
        cmocka_unit_test(test_one_gpu_per_rank_is_accepted),
        cmocka_unit_test(test_shared_gpus_follow_the_policy),
        cmocka_unit_test(test_ranks_without_a_gpu),
        cmocka_unit_test(test_sync_mode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
