// One kernel per rule of tests/cuda/ptx_lint.sh, each writing the instruction its rule must refuse, so
// the lint proves on every run that its patterns match what nvcc emits. Compiled to PTX only; never run.
#include <cuda_runtime.h>

__global__ void lint_fma(float *f, double *d)
{
    f[0] = fmaf(f[1], f[2], f[3]); // fma.rn.f32
    d[0] = fma(d[1], d[2], d[3]);  // fma.rn.f64
}

__global__ void lint_contract(float *f)
{
    float r;
    asm("add.f32 %0, %1, %2;" : "=f"(r) : "f"(f[1]), "f"(f[2])); // no rounding modifier: ptxas may fuse it
    f[0] = r;
}

__global__ void lint_atomic(float *f, double *d)
{
    atomicAdd(f, 1.0f); // red/atom .add.f32
    atomicAdd(d, 1.0);  // red/atom .add.f64
}

__global__ void lint_approx(float *f)
{
    f[0] = __expf(f[1]);          // ex2.approx
    f[2] = __fdividef(f[3], f[4]); // div.approx / div.full
}

__global__ void lint_ftz(float *f)
{
    float r;
    asm("add.rn.ftz.f32 %0, %1, %2;" : "=f"(r) : "f"(f[1]), "f"(f[2]));
    f[0] = r;
}

__global__ void lint_mma(float *d, const unsigned *a, const unsigned *b)
{
    float c0 = 0.0f, c1 = 0.0f, c2 = 0.0f, c3 = 0.0f;
    asm("mma.sync.aligned.m16n8k8.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5}, {%6}, {%0,%1,%2,%3};"
        : "+f"(c0), "+f"(c1), "+f"(c2), "+f"(c3)
        : "r"(a[0]), "r"(a[1]), "r"(b[0]));
    d[0] = c0 + c1 + c2 + c3;
}
