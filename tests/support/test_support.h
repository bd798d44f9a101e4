/* Helpers shared by the cmocka tests. Include after <setjmp.h>, <stdarg.h>, <stddef.h>, <cmocka.h>. */
#ifndef CNN_DDP_TEST_SUPPORT_H
#define CNN_DDP_TEST_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

/* Deterministic pseudo-random fill in [lo, hi). */
void ts_fill_uniform(float *x, size_t n, uint64_t seed, float lo, float hi);
/* Largest |a-b| / max(1, |b|) over n elements (relative error with an absolute floor). */
double ts_max_rel_err(const float *a, const float *b, size_t n);
/* A fresh empty directory under $TMPDIR (or /tmp), removed by ts_rmtree. Returns a static-lifetime
 * malloc'd path the caller frees. */
char *ts_make_temp_dir(const char *tag);
void ts_rmtree(const char *path);
/* Runs `cmd` through /bin/sh, captures up to cap-1 bytes of stdout+stderr into out (may be NULL),
 * returns the exit status (or 128+signal). */
int ts_run(const char *cmd, char *out, size_t cap);
/* Path of a file under the build / source tree. */
const char *ts_bin_dir(void);
const char *ts_src_dir(void);
const char *ts_mnist_idx_dir(void);
/* Writes bytes to a file; returns 0 on success. */
int ts_write_file(const char *path, const void *data, size_t n);

#endif
