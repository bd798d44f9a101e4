/* What a checkpoint's metadata alone says must hold, checked once its checksum has passed: a file can
 * be intact and still impossible (crafted, or written by a bug). The invariants are the training
 * loop's (src/train/loop.c, after_step):
 *   step = epoch * steps_per_epoch + step_in_epoch, 0 <= step_in_epoch < steps_per_epoch;
 *   the epoch's totals cover the steps done in it, batch samples a step: epoch_samples is
 *   step_in_epoch * batch, or, for a run stopped by a signal right at an epoch's end (totals not
 *   yet reset), steps_per_epoch * batch with step_in_epoch 0;
 *   0 <= epoch_correct <= epoch_samples; each sample adds 0 to CD_FIXED_LIMIT (2^-40 units) to
 *   epoch_loss_fx (cross-entropy is never negative, larger shares are refused as divergence). */
#include "ckpt_internal.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cnn_ddp/fixed_point.h"

static cd_status check_position(const char *path, const cd_ckpt_meta *m, int64_t *spe_out, cd_error *err)
{
    if (m->batch < 1 || m->batch > CD_MAX_BATCH)
        return CD_FAIL(err, CD_E_INPUT, "%s: batch %" PRId64 " is outside 1..%d (impossible checkpoint)", path,
                       m->batch, CD_MAX_BATCH);
    if (m->ranks < 1 || m->ranks > CD_MAX_RANKS)
        return CD_FAIL(err, CD_E_INPUT, "%s: ranks %" PRId64 " is outside 1..%d (impossible checkpoint)", path,
                       m->ranks, CD_MAX_RANKS);
    if (m->step < 0 || m->epoch < 0 || m->step_in_epoch < 0)
        return CD_FAIL(err, CD_E_INPUT, "%s: position step %" PRId64 ", epoch %" PRId64 ", step_in_epoch %" PRId64
                       " is negative (impossible checkpoint)", path, m->step, m->epoch, m->step_in_epoch);
    /* Every step trained `batch` samples: more steps than int64 can count samples of is no real run. */
    if (m->step > INT64_MAX / m->batch)
        return CD_FAIL(err, CD_E_INPUT, "%s: step %" PRId64 " of batch %" PRId64 " is more samples than a run can "
                       "train (impossible checkpoint)", path, m->step, m->batch);
    /* The steps per epoch are not stored, but step, epoch and step_in_epoch must agree on one. */
    int64_t spe = 0; /* 0: not known from the file (still in the first epoch) */
    int fits = 1;
    if (m->epoch == 0) {
        fits = m->step_in_epoch == m->step;
    } else {
        const int64_t whole = m->step - m->step_in_epoch;
        fits = whole > 0 && whole % m->epoch == 0 && whole / m->epoch > m->step_in_epoch;
        if (fits) spe = whole / m->epoch;
    }
    if (!fits)
        return CD_FAIL(err, CD_E_INPUT, "%s: step %" PRId64 " is not epoch %" PRId64 " whole epochs plus step_in_epoch %"
                       PRId64 " (impossible checkpoint)", path, m->step, m->epoch, m->step_in_epoch);
    /* A cosine schedule records the run's total steps. */
    if (strncmp(m->lr_schedule, "cosine/", 7) == 0) {
        char *end = NULL;
        long long total = strtoll(m->lr_schedule + 7, &end, 10);
        if (end != m->lr_schedule + 7 && *end == '\0' && m->step > total)
            return CD_FAIL(err, CD_E_INPUT, "%s: step %" PRId64 " is past the end of its lr_schedule %s (impossible "
                           "checkpoint)", path, m->step, m->lr_schedule);
    }
    *spe_out = spe;
    return CD_OK;
}

static cd_status check_totals(const char *path, const cd_ckpt_meta *m, int64_t spe, cd_error *err)
{
    const int64_t in_epoch = m->step_in_epoch * m->batch; /* no overflow: step_in_epoch <= step */
    const int at_stopped_end = m->step_in_epoch == 0 && spe > 0 && m->epoch_samples == spe * m->batch;
    if (m->epoch_samples != in_epoch && !at_stopped_end)
        return CD_FAIL(err, CD_E_INPUT, "%s: epoch_samples %" PRId64 " is not step_in_epoch %" PRId64 " x batch %" PRId64
                       " (impossible checkpoint)", path, m->epoch_samples, m->step_in_epoch, m->batch);
    if (m->epoch_correct < 0 || m->epoch_correct > m->epoch_samples)
        return CD_FAIL(err, CD_E_INPUT, "%s: epoch_correct %" PRId64 " is outside 0..epoch_samples %" PRId64
                       " (impossible checkpoint)", path, m->epoch_correct, m->epoch_samples);
    /* In integers: a double would round the limit. Past INT64_MAX the limit is no limit. */
    const int64_t per_sample = (int64_t)CD_FIXED_LIMIT << CD_FIXED_SHIFT;
    const int64_t loss_limit = m->epoch_samples > INT64_MAX / per_sample ? INT64_MAX : m->epoch_samples * per_sample;
    if (m->epoch_loss_fx < 0 || m->epoch_loss_fx > loss_limit)
        return CD_FAIL(err, CD_E_INPUT, "%s: epoch_loss_fx %" PRId64 " is outside 0..%" PRId64 " for %" PRId64
                       " samples (impossible checkpoint)", path, m->epoch_loss_fx, loss_limit, m->epoch_samples);
    if (!isfinite(m->epoch_seconds) || m->epoch_seconds < 0)
        return CD_FAIL(err, CD_E_INPUT, "%s: epoch_seconds %g is not a finite, non-negative time (impossible "
                       "checkpoint)", path, m->epoch_seconds);
    return CD_OK;
}

cd_status ck_meta_check(const char *path, const cd_ckpt_meta *m, cd_error *err)
{
    int64_t spe = 0;
    CD_TRY(check_position(path, m, &spe, err));
    CD_TRY(check_totals(path, m, spe, err));
    if (!isfinite(m->lr) || m->lr <= 0)
        return CD_FAIL(err, CD_E_INPUT, "%s: lr %g is not a finite, positive rate (impossible checkpoint)", path, m->lr);
    if (!isfinite(m->momentum) || m->momentum < 0 || m->momentum >= 1)
        return CD_FAIL(err, CD_E_INPUT, "%s: momentum %g is outside [0, 1) (impossible checkpoint)", path, m->momentum);
    if (m->data_channels < 1 || m->data_channels > 64)
        return CD_FAIL(err, CD_E_INPUT, "%s: data_channels %" PRId64 " is outside 1..64 (impossible checkpoint)", path,
                       m->data_channels);
    if (m->classes < 2 || m->classes > 256)
        return CD_FAIL(err, CD_E_INPUT, "%s: classes %" PRId64 " is outside 2..256 (impossible checkpoint)", path,
                       m->classes);
    if (m->val_rows < 0)
        return CD_FAIL(err, CD_E_INPUT, "%s: val_rows %" PRId64 " is negative (impossible checkpoint)", path, m->val_rows);
    return CD_OK;
}

cd_status ck_tensor_check_finite(const char *path, const char *what, const float *v, size_t n, cd_error *err)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return CD_FAIL(err, CD_E_INPUT, "%s: %s: element %zu (of %zu) is %s: the checksum matches but the "
                           "values are not usable", path, what, i, n, isnan(v[i]) ? "nan" : v[i] > 0 ? "inf" : "-inf");
    return CD_OK;
}
