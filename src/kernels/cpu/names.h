/* The kernel sets' names, indexed by cd_kernel_kind: the one list behind --kernels parsing,
 * cd_kernel_kind_name() and every table's .name. Rows of a char array rather than pointers, so
 * that the tables' static initialisers can take them as address constants. */
#ifndef CD_KERNELS_CPU_NAMES_H
#define CD_KERNELS_CPU_NAMES_H

#include "cnn_ddp/kernels.h"

#define CD_KERNEL_KINDS (CD_KERNELS_AVX512 + 1)
#define CD_KERNEL_NAME_CAP 8 /* "avx512" and its NUL, rounded up */

extern const char cd_kernel_names[CD_KERNEL_KINDS][CD_KERNEL_NAME_CAP];

#endif
