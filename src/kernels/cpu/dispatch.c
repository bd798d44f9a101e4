/* Choosing a kernel set: parse the --kernels value, ask the CPU (CPUID) and the OS (XGETBV: which
 * register state it saves on context switch) what can run, and hand out the table. */
#include <stdio.h>
#include <string.h>

#include "cnn_ddp/kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define CD_X86 1
#endif

const char cd_kernel_names[CD_KERNEL_KINDS][CD_KERNEL_NAME_CAP] = {
    [CD_KERNELS_AUTO] = "auto",
    [CD_KERNELS_SCALAR] = "scalar",
    [CD_KERNELS_AVX2] = "avx2",
    [CD_KERNELS_AVX512] = "avx512",
};

const char *cd_kernel_kind_name(cd_kernel_kind kind)
{
    return (unsigned)kind < CD_KERNEL_KINDS ? cd_kernel_names[kind] : "?";
}

cd_status cd_kernel_kind_parse(const char *text, cd_kernel_kind *out, cd_error *err)
{
    for (int k = 0; text && k < CD_KERNEL_KINDS; k++)
        if (strcmp(text, cd_kernel_names[k]) == 0) {
            *out = (cd_kernel_kind)k;
            return CD_OK;
        }
    /* "auto, scalar, avx2 or avx512", from the table */
    char expected[CD_KERNEL_KINDS * (CD_KERNEL_NAME_CAP + 4)] = "";
    for (int k = 0; k < CD_KERNEL_KINDS; k++) {
        const char *sep = k == 0 ? "" : k == CD_KERNEL_KINDS - 1 ? " or " : ", ";
        size_t used = strlen(expected);
        snprintf(expected + used, sizeof expected - used, "%s%s", sep, cd_kernel_names[k]);
    }
    return CD_FAIL(err, CD_E_USAGE, "--kernels %s: unknown kernel set (expected %s)", text ? text : "(null)",
                   expected);
}

/* The first feature `kind` needs that this machine lacks, or NULL when it can run. */
static const char *missing_feature(cd_kernel_kind kind)
{
    if (kind == CD_KERNELS_SCALAR || kind == CD_KERNELS_AUTO) return NULL;
#ifdef CD_X86
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return "CPUID leaf 1";
    const unsigned ecx1 = c;
    if (!(ecx1 & (1u << 28))) return "AVX";
    if (!(ecx1 & (1u << 12))) return "FMA";
    /* OSXSAVE: without it XGETBV faults and the OS saves no AVX state */
    if (!(ecx1 & (1u << 27))) return "OS support for AVX (OSXSAVE)";
    unsigned xcr0_lo, xcr0_hi;
    __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    (void)xcr0_hi;
    if ((xcr0_lo & 0x6u) != 0x6u) return "OS support for AVX state (XCR0 SSE|YMM)";
    if (__get_cpuid_max(0, NULL) < 7) return "AVX2";
    __cpuid_count(7, 0, a, b, c, d);
    const unsigned ebx7 = b;
    if (!(ebx7 & (1u << 5))) return "AVX2";
    if (kind == CD_KERNELS_AVX2) return NULL;
    if (!(ebx7 & (1u << 16))) return "AVX-512F";
    if (!(ebx7 & (1u << 17))) return "AVX-512DQ";
    if (!(ebx7 & (1u << 30))) return "AVX-512BW";
    if (!(ebx7 & (1u << 31))) return "AVX-512VL";
    /* opmask, upper halves of zmm0-15, zmm16-31 */
    if ((xcr0_lo & 0xE0u) != 0xE0u) return "OS support for AVX-512 state (XCR0 opmask|ZMM)";
    return NULL;
#else
    return kind == CD_KERNELS_AVX2 ? "AVX2 (not an x86 CPU)" : "AVX-512F (not an x86 CPU)";
#endif
}

static const cd_kernels *table_for(cd_kernel_kind kind)
{
    switch (kind) {
    case CD_KERNELS_SCALAR: return cd_kernels_scalar();
    case CD_KERNELS_AVX2: return cd_kernels_avx2();
    case CD_KERNELS_AVX512: return cd_kernels_avx512();
    case CD_KERNELS_AUTO: break;
    }
    return NULL;
}

int cd_kernels_supported(cd_kernel_kind kind)
{
    if (kind == CD_KERNELS_AUTO) return 1;
    return missing_feature(kind) == NULL && table_for(kind) != NULL;
}

cd_status cd_kernels_select(cd_kernel_kind kind, const cd_kernels **out, cd_error *err)
{
    if (kind == CD_KERNELS_AUTO) {
        static const cd_kernel_kind best_first[] = {CD_KERNELS_AVX512, CD_KERNELS_AVX2, CD_KERNELS_SCALAR};
        for (size_t i = 0; i < sizeof best_first / sizeof best_first[0]; i++)
            if (cd_kernels_supported(best_first[i])) {
                *out = table_for(best_first[i]);
                return CD_OK;
            }
        return CD_FAIL(err, CD_E_INTERNAL, "--kernels auto: no kernel set available");
    }
    if (kind != CD_KERNELS_SCALAR && kind != CD_KERNELS_AVX2 && kind != CD_KERNELS_AVX512)
        return CD_FAIL(err, CD_E_USAGE, "--kernels: unknown kernel set %d", (int)kind);
    const char *missing = missing_feature(kind);
    if (missing)
        return CD_FAIL(err, CD_E_USAGE, "--kernels %s: this CPU does not support %s", cd_kernel_kind_name(kind),
                       missing);
    const cd_kernels *t = table_for(kind);
    if (!t)
        return CD_FAIL(err, CD_E_USAGE, "--kernels %s: this build was compiled without the %s kernels",
                       cd_kernel_kind_name(kind), cd_kernel_kind_name(kind));
    *out = t;
    return CD_OK;
}
