/* Rebuilding a trained model from a checkpoint, shared by `eval` and `predict`. */
#include <stdio.h>
#include <string.h>

#include "subcommands.h"
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
    cd_shape input = {1, height, width};
    if (budget) {
        /* Before the model's buffers are allocated: `eval --batch 65536` needs gigabytes. */
        cd_model_bytes mb;
        cd_memory_plan plan = *budget;
        if (cd_model_memory(&spec, input, CD_CLASSES, max_batch, kernels, &mb, err) == CD_OK) {
            cd_memory_plan_add(&plan, mb.arenas, "the model's parameters (%zu, most in %s)", mb.params, mb.largest_layer);
            cd_memory_plan_add(&plan, mb.activations, "the activations for a batch of %d", max_batch);
            CD_TRY(cd_memory_check(&plan, limit, "use a smaller --batch, more ranks, or more memory "
                                   "(--memory-limit none skips this check)", err));
        }
    }
    cd_error build_err = {0};
    st = cd_model_build(&spec, input, CD_CLASSES, max_batch, kernels, model, &build_err);
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
