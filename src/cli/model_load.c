/* Rebuilding a trained model from a checkpoint, shared by `eval` and `predict`. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "subcommands.h"
#include "cnn_ddp/abs_path.h"
#include "cnn_ddp/data.h"
#include "cnn_ddp/spec.h"

cd_status cd_cli_load_model(const char *ckpt, int height, int width, int max_batch, cd_kernel_kind kind,
                            const cd_memory_plan *budget, const cd_memory_limit *limit, cd_model *model,
                            cd_ckpt_meta *meta, cd_error *err)
{
    memset(model, 0, sizeof *model);
    /* Verify first, so that a later failure to read can only mean the shapes do not fit. */
    CD_TRY(cd_ckpt_verify(ckpt, meta, err));
    cd_model_spec spec;
    cd_status st = cd_spec_parse(meta->model, &spec, err);
    if (st != CD_OK) {
        cd_error_prefix(err, "%s: model in the checkpoint: ", ckpt);
        return st;
    }
    const cd_kernels *kernels;
    CD_TRY(cd_kernels_select(kind, &kernels, err));
    const int classes = (int)meta->classes;
    cd_shape input = {(int)meta->data_channels, height, width};
    if (budget) {
        /* Before the model's buffers are allocated: `eval --batch 65536` needs gigabytes. */
        cd_model_bytes mb;
        cd_memory_plan plan = *budget;
        if (cd_model_memory(&spec, input, classes, max_batch, kernels, &mb, err) == CD_OK) {
            cd_memory_plan_add(&plan, mb.arenas, "the model's parameters (%zu, most in %s)", mb.params, mb.largest_layer);
            cd_memory_plan_add(&plan, mb.activations, "the activations for a batch of %d", max_batch);
            CD_TRY(cd_memory_check(&plan, limit, "use a smaller --batch, more ranks, or more memory "
                                   "(--memory-limit none skips this check)", err));
        }
    }
    cd_error build_err = {0};
    st = cd_model_build(&spec, input, classes, max_batch, kernels, model, &build_err);
    if (st != CD_OK) {
        if (st != CD_E_INPUT) {
            *err = build_err;
            return st;
        }
        return CD_FAIL(err, CD_E_INPUT, "%s: its model cannot take %dx%d images (%s)", ckpt, height, width,
                       build_err.msg);
    }
    cd_tensor_view tensors[2 * CD_MAX_LAYERS];
    int n = cd_model_tensor_views(model, tensors);
    cd_error read_err = {0};
    st = cd_ckpt_read(ckpt, tensors, n, meta, model->arena.params, model->arena.momentum, model->arena.count,
                      &read_err);
    if (st != CD_OK) {
        cd_model_free(model);
        memset(model, 0, sizeof *model);
        /* The file verified and the model came from it: only the input size can make them disagree. */
        if (st != CD_E_INPUT) {
            *err = read_err;
            return st;
        }
        return CD_FAIL(err, CD_E_INPUT, "%s: its model was not trained on %dx%d images (%s)", ckpt, height, width,
                       read_err.msg);
    }
    return CD_OK;
}

void cd_cli_ckpt_data_path(const cd_ckpt_meta *meta, char *buf, size_t size)
{
    buf[0] = '\0';
    for (const char *line = meta->config; *line;) {
        const char *nl = strchr(line, '\n');
        int len = nl ? (int)(nl - line) : (int)strlen(line);
        if (len > 5 && !strncmp(line, "data=", 5)) {
            snprintf(buf, size, "%.*s", len - 5, line + 5);
            return;
        }
        line += len + (nl ? 1 : 0);
    }
}

cd_status cd_cli_ckpt_data_find(const char *what, const char *ckpt, const cd_ckpt_meta *meta, char *out, size_t size,
                                cd_error *err)
{
    char given[CD_PATH_MAX], given_abs[CD_PATH_MAX];
    cd_cli_ckpt_data_path(meta, given, sizeof given);
    if (!meta->data[0] && !given[0]) {
        snprintf(out, size, "datasets/mnist.h5"); /* nothing recorded: the default */
        return CD_OK;
    }
    /* Checkpoints record the absolute path (data), the configuration the path as given (data=). */
    if (meta->data[0] && access(meta->data, F_OK) == 0) {
        snprintf(out, size, "%s", meta->data);
        return CD_OK;
    }
    if (given[0] && access(given, F_OK) == 0) {
        snprintf(out, size, "%s", given);
        return CD_OK;
    }
    cd_path_absolute(given[0] ? given : meta->data, given_abs, sizeof given_abs);
    if (!given[0] || !strcmp(given_abs, meta->data) || !strcmp(given, meta->data))
        return CD_FAIL(err, CD_E_INPUT, "%s: the training data of %s is gone: no %s; pass --data FILE.h5", what, ckpt,
                       meta->data[0] ? meta->data : given_abs);
    return CD_FAIL(err, CD_E_INPUT, "%s: the training data of %s is gone: looked for %s (recorded) and %s (as given to "
                   "its run, here %s); pass --data FILE.h5", what, ckpt, meta->data[0] ? meta->data : "nothing", given,
                   given_abs);
}

cd_status cd_cli_check_data(const char *what, const char *data, const cd_data_set_info *set, const cd_ckpt_meta *meta,
                            cd_error *err)
{
    const cd_data_info *d = &set->train;
    if (d->channels != meta->data_channels)
        return CD_FAIL(err, CD_E_INPUT, "%s: %s has %d channel%s, the checkpoint's run had %" PRId64 " (data_channels)",
                       what, data, d->channels, d->channels == 1 ? "" : "s", meta->data_channels);
    if (set->classes != meta->classes)
        return CD_FAIL(err, CD_E_INPUT, "%s: %s has %d classes, the checkpoint's run had %" PRId64 " (classes)", what,
                       data, set->classes, meta->classes);
    /* Images of another size: the model load says so, which matters more than their statistics. */
    const int same_size = d->height == meta->data_height && d->width == meta->data_width;
    if (d->has_norm && same_size) {
        char mean[CD_NORM_TEXT_MAX], std[CD_NORM_TEXT_MAX];
        cd_data_norm_format(d->mean, d->channels, mean, sizeof mean);
        cd_data_norm_format(d->std, d->channels, std, sizeof std);
        if (strcmp(mean, meta->norm_mean) != 0 || strcmp(std, meta->norm_std) != 0)
            return CD_FAIL(err, CD_E_INPUT, "%s: %s stores the normalisation mean %s std %s, the checkpoint's run used "
                           "mean %s std %s (norm_mean, norm_std)", what, data, mean, std, meta->norm_mean,
                           meta->norm_std);
    }
    return CD_OK;
}

cd_status cd_cli_ckpt_norm(const char *ckpt, const cd_ckpt_meta *meta, double *mean, double *std, cd_error *err)
{
    const int c = (int)meta->data_channels;
    if (cd_data_norm_parse(meta->norm_mean, mean, CD_MAX_CHANNELS) != c ||
        cd_data_norm_parse(meta->norm_std, std, CD_MAX_CHANNELS) != c)
        return CD_FAIL(err, CD_E_INPUT, "%s: norm_mean \"%s\" / norm_std \"%s\" are not %d numbers each "
                       "(impossible checkpoint)", ckpt, meta->norm_mean, meta->norm_std, c);
    for (int k = 0; k < c; k++)
        if (!(std[k] > 0))
            return CD_FAIL(err, CD_E_INPUT, "%s: norm_std value %d is %g, not > 0 (impossible checkpoint)", ckpt, k, std[k]);
    return CD_OK;
}
