/* fma_peak: measures one core's fp32 fused multiply-add peak, the ceiling the bench compares against.
 *
 * Usage: fma_peak [--isa auto|avx512|avx2|scalar] [--seconds S]
 * Prints one line:  fma_peak isa=avx512 chains=12 seconds=0.300 gflops=123.4 one_chain_gflops=10.3
 *
 * Method: 12 independent accumulator chains acc = acc * a + b (one FMA = 2 FLOPs per lane). Twelve
 * chains cover every current x86 core (two FMA pipes x up to 6 cycles latency), so the loop is bound by
 * FMA throughput, not latency. The chains start from different values read at run time: chains that
 * start equal are one chain to the compiler, which then kept a single FMA in the loop and this tool
 * reported 12 chains' FLOPs at one chain's latency (1.5x the real peak on a Zen 3 core: 148 GFLOP/s
 * where the FMA pipes give 2 x 8 x 2 x ~3.1 GHz = ~100). a < 1 and b > 0 keep the values near 1: no overflow, no denormals.
 * The vector bodies use target attributes and the choice is made with __builtin_cpu_supports, so a
 * plain build runs everywhere and still reaches the widest units the CPU has. Run it pinned to an idle
 * core (taskset -c N) for a stable number; it measures a single thread only. */
#define _POSIX_C_SOURCE 200809L

#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { CHAINS = 12, INNER = 1024 };

typedef double (*fma_body)(long outer, float *sink);

/* The chains' starting points, volatile so the compiler cannot see that they differ by a constant. */
static volatile float chain_start[CHAINS] = {1.000f, 1.001f, 1.002f, 1.003f, 1.004f, 1.005f,
                                             1.006f, 1.007f, 1.008f, 1.009f, 1.010f, 1.011f};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Each body runs outer * INNER iterations of CHAINS vector FMAs and returns the FLOPs done; the
 * accumulators are summed into *sink so the compiler cannot drop the work. */
__attribute__((target("avx512f"))) static double body_avx512(long outer, float *sink) {
    const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-6f);
    __m512 c0 = _mm512_set1_ps(chain_start[0]), c1 = _mm512_set1_ps(chain_start[1]);
    __m512 c2 = _mm512_set1_ps(chain_start[2]), c3 = _mm512_set1_ps(chain_start[3]);
    __m512 c4 = _mm512_set1_ps(chain_start[4]), c5 = _mm512_set1_ps(chain_start[5]);
    __m512 c6 = _mm512_set1_ps(chain_start[6]), c7 = _mm512_set1_ps(chain_start[7]);
    __m512 c8 = _mm512_set1_ps(chain_start[8]), c9 = _mm512_set1_ps(chain_start[9]);
    __m512 c10 = _mm512_set1_ps(chain_start[10]), c11 = _mm512_set1_ps(chain_start[11]);
    for (long o = 0; o < outer; o++) {
        for (int i = 0; i < INNER; i++) {
            c0 = _mm512_fmadd_ps(c0, a, b);
            c1 = _mm512_fmadd_ps(c1, a, b);
            c2 = _mm512_fmadd_ps(c2, a, b);
            c3 = _mm512_fmadd_ps(c3, a, b);
            c4 = _mm512_fmadd_ps(c4, a, b);
            c5 = _mm512_fmadd_ps(c5, a, b);
            c6 = _mm512_fmadd_ps(c6, a, b);
            c7 = _mm512_fmadd_ps(c7, a, b);
            c8 = _mm512_fmadd_ps(c8, a, b);
            c9 = _mm512_fmadd_ps(c9, a, b);
            c10 = _mm512_fmadd_ps(c10, a, b);
            c11 = _mm512_fmadd_ps(c11, a, b);
        }
    }
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(c0, c1), _mm512_add_ps(c2, c3)),
                             _mm512_add_ps(_mm512_add_ps(c4, c5), _mm512_add_ps(c6, c7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(c8, c9), _mm512_add_ps(c10, c11)));
    *sink += _mm512_reduce_add_ps(s);
    return (double)outer * INNER * CHAINS * 16 * 2;
}

__attribute__((target("avx2,fma"))) static double body_avx2(long outer, float *sink) {
    const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-6f);
    __m256 c0 = _mm256_set1_ps(chain_start[0]), c1 = _mm256_set1_ps(chain_start[1]);
    __m256 c2 = _mm256_set1_ps(chain_start[2]), c3 = _mm256_set1_ps(chain_start[3]);
    __m256 c4 = _mm256_set1_ps(chain_start[4]), c5 = _mm256_set1_ps(chain_start[5]);
    __m256 c6 = _mm256_set1_ps(chain_start[6]), c7 = _mm256_set1_ps(chain_start[7]);
    __m256 c8 = _mm256_set1_ps(chain_start[8]), c9 = _mm256_set1_ps(chain_start[9]);
    __m256 c10 = _mm256_set1_ps(chain_start[10]), c11 = _mm256_set1_ps(chain_start[11]);
    for (long o = 0; o < outer; o++) {
        for (int i = 0; i < INNER; i++) {
            c0 = _mm256_fmadd_ps(c0, a, b);
            c1 = _mm256_fmadd_ps(c1, a, b);
            c2 = _mm256_fmadd_ps(c2, a, b);
            c3 = _mm256_fmadd_ps(c3, a, b);
            c4 = _mm256_fmadd_ps(c4, a, b);
            c5 = _mm256_fmadd_ps(c5, a, b);
            c6 = _mm256_fmadd_ps(c6, a, b);
            c7 = _mm256_fmadd_ps(c7, a, b);
            c8 = _mm256_fmadd_ps(c8, a, b);
            c9 = _mm256_fmadd_ps(c9, a, b);
            c10 = _mm256_fmadd_ps(c10, a, b);
            c11 = _mm256_fmadd_ps(c11, a, b);
        }
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)),
                             _mm256_add_ps(_mm256_add_ps(c4, c5), _mm256_add_ps(c6, c7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(c8, c9), _mm256_add_ps(c10, c11)));
    float lanes[8];
    _mm256_storeu_ps(lanes, s);
    for (int l = 0; l < 8; l++) {
        *sink += lanes[l];
    }
    return (double)outer * INNER * CHAINS * 8 * 2;
}

/* One chain: FMA latency, not throughput. The peak must be several times this (pipes x latency, 8 on
 * Zen 3); if not, the compiler merged the chains and the figure is no peak. */
__attribute__((target("avx2,fma"))) static double body_avx2_one(long outer, float *sink) {
    const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-6f);
    __m256 c0 = _mm256_set1_ps(chain_start[0]);
    for (long o = 0; o < outer; o++) {
        for (int i = 0; i < INNER; i++) {
            c0 = _mm256_fmadd_ps(c0, a, b);
        }
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, c0);
    *sink += lanes[0];
    return (double)outer * INNER * 8 * 2;
}

/* No FMA unit: multiply then add, still 2 FLOPs per chain step. A floor, not a peak. */
static double body_scalar(long outer, float *sink) {
    float c[CHAINS];
    const float a = 0.999999f, b = 1e-6f;
    for (int k = 0; k < CHAINS; k++) {
        c[k] = chain_start[k];
    }
    for (long o = 0; o < outer; o++) {
        for (int i = 0; i < INNER; i++) {
            for (int k = 0; k < CHAINS; k++) {
                c[k] = c[k] * a + b;
            }
        }
    }
    for (int k = 0; k < CHAINS; k++) {
        *sink += c[k];
    }
    return (double)outer * INNER * CHAINS * 2;
}

/* Runs the body in growing batches until `seconds` have passed; returns GFLOP/s over the whole run. */
static double measure(fma_body body, double seconds, float *sink, double *elapsed) {
    double flops = 0.0;
    long outer = 16;
    const double start = now_s();
    double t = start;
    while (t - start < seconds) {
        flops += body(outer, sink);
        t = now_s();
        if (t - start < seconds / 8 && outer < (1L << 20)) {
            outer *= 2; /* keep the clock reads rare compared with the work between them */
        }
    }
    *elapsed = t - start;
    return flops / *elapsed * 1e-9;
}

static int usage(const char *prog, const char *problem) {
    fprintf(stderr, "%s: %s\nusage: %s [--isa auto|avx512|avx2|scalar] [--seconds S]\n", prog, problem, prog);
    return 2;
}

int main(int argc, char **argv) {
    const char *isa = "auto";
    double seconds = 0.3;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--isa") == 0 && i + 1 < argc) {
            isa = argv[++i];
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            char *end = NULL;
            seconds = strtod(argv[++i], &end);
            if (end == argv[i] || *end != '\0' || !(seconds > 0.0 && seconds <= 60.0)) {
                return usage(argv[0], "--seconds: expected a number in (0, 60]");
            }
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(argv[0], "measures one core's fp32 FMA peak");
            return 0;
        } else {
            return usage(argv[0], "unknown or incomplete option");
        }
    }

    __builtin_cpu_init();
    const int has512 = __builtin_cpu_supports("avx512f");
    const int has2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (strcmp(isa, "auto") == 0) {
        isa = has512 ? "avx512" : has2 ? "avx2" : "scalar";
    }
    fma_body body;
    if (strcmp(isa, "avx512") == 0 && has512) {
        body = body_avx512;
    } else if (strcmp(isa, "avx2") == 0 && has2) {
        body = body_avx2;
    } else if (strcmp(isa, "scalar") == 0) {
        body = body_scalar;
    } else {
        fprintf(stderr, "%s: --isa %s: not supported by this CPU (or unknown)\n", argv[0], isa);
        return 2;
    }

    float sink = 0.0f;
    double elapsed = 0.0;
    (void)measure(body, seconds / 6, &sink, &elapsed); /* warm-up: wake the core and its wide units */
    const double gflops = measure(body, seconds, &sink, &elapsed);
    double one = 0.0, unused = 0.0;
    if (body != body_scalar) {
        one = measure(body_avx2_one, seconds / 6, &sink, &unused);
    }
    printf("fma_peak isa=%s chains=%d seconds=%.3f gflops=%.1f one_chain_gflops=%.1f\n", isa, CHAINS, elapsed, gflops,
           one);
    /* A vector FMA unit overlaps at least three chains (two pipes, latency >= 3; AVX-512's one chain is
     * twice as wide as the AVX2 one used here, so its ratio is higher still). Less means the loop is not
     * what this tool claims to time: refuse the figure rather than let the bench divide by it. */
    if (body != body_scalar && gflops < 3.0 * one) {
        fprintf(stderr, "%s: %d chains ran only %.1fx one chain's rate: the chains are not independent in this "
                "build (a compiler merged them?); no peak reported\n", argv[0], CHAINS, one > 0 ? gflops / one : 0.0);
        return 3;
    }
    /* The sums land near CHAINS * lanes; printing a sign-only check keeps them live without noise. */
    return sink > 0.0f ? 0 : 1;
}
