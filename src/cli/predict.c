/* `cnn_ddp predict --ckpt FILE IMAGE...` or `--h5 FILE.h5 --index I [--split test|train]`: the class a
 * checkpoint's model sees in each image (and its name, when the data named its classes), with the K
 * softmax probabilities. Images go through the normalisation the model was trained with (recorded in
 * the checkpoint), so an image written from the data set predicts the same. PGM/PNG files are read as
 * grey: a model of C channels gets the grey value in each. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "subcommands.h"
#include "cnn_ddp/data.h"
#include "cnn_ddp/image.h"
#include "cnn_ddp/limits.h"

enum { MAX_IMAGES = 4096 };

typedef struct predict_options {
    const char *ckpt;
    const char *h5;
    const char *split;
    long long index;
    int have_index;
    int invert;
    const char *save_pgm;
    cd_kernel_kind kernels;
    int help;
    int n_images;
    const char *images[MAX_IMAGES];
} predict_options;

static cd_status parse(int argc, char **argv, predict_options *o, cd_error *err)
{
    static const char *const valued[] = {"ckpt", "h5", "index", "split", "kernels", "save-pgm", NULL};
    memset(o, 0, sizeof *o);
    o->split = "test";
    for (int i = 1; i < argc; i++) {
        char name[32];
        const char *v;
        CD_TRY(cd_cli_next_arg(argc, argv, &i, valued, name, sizeof name, &v, err));
        if (!name[0] && !strcmp(v, "-h")) {
            o->help = 1;
        } else if (!name[0]) {
            if (o->n_images == MAX_IMAGES) return CD_FAIL(err, CD_E_USAGE, "predict: more than %d images", MAX_IMAGES);
            o->images[o->n_images++] = v;
        } else if (!strcmp(name, "ckpt")) {
            o->ckpt = v;
        } else if (!strcmp(name, "h5")) {
            o->h5 = v;
        } else if (!strcmp(name, "index")) {
            CD_TRY(cd_cli_parse_int("--index", v, 0, INT64_MAX, &o->index, err));
            o->have_index = 1;
        } else if (!strcmp(name, "split")) {
            if (strcmp(v, "test") != 0 && strcmp(v, "train") != 0)
                return CD_FAIL(err, CD_E_USAGE, "--split: '%s' is not test or train", v);
            o->split = v;
        } else if (!strcmp(name, "kernels")) {
            CD_TRY(cd_kernel_kind_parse(v, &o->kernels, err));
        } else if (!strcmp(name, "save-pgm")) {
            o->save_pgm = v;
        } else if (!strcmp(name, "invert")) {
            o->invert = 1;
        } else if (!strcmp(name, "help")) {
            o->help = 1;
        } else {
            static const char *const flags[] = {"invert", "help", NULL};
            return cd_cli_unknown_option("predict", name, valued, flags, err);
        }
    }
    if (o->help) return CD_OK;
    if (!o->ckpt) return CD_FAIL(err, CD_E_USAGE, "predict: --ckpt FILE is required");
    if (o->h5 && o->n_images) return CD_FAIL(err, CD_E_USAGE, "predict: give image files or --h5 FILE --index I, not both");
    if (o->h5 && !o->have_index) return CD_FAIL(err, CD_E_USAGE, "predict: --h5 needs --index I");
    if (!o->h5 && o->have_index) return CD_FAIL(err, CD_E_USAGE, "predict: --index needs --h5 FILE");
    if (!o->h5 && !o->n_images) return CD_FAIL(err, CD_E_USAGE, "predict: no image given (IMAGE... or --h5 FILE --index I)");
    if (o->save_pgm && o->n_images > 1) return CD_FAIL(err, CD_E_USAGE, "--save-pgm: only with a single image");
    return CD_OK;
}

typedef struct predict_state {
    cd_model model;
    int model_built;
    cd_ckpt_meta meta;
    int n;
    cd_image images[MAX_IMAGES];
    uint8_t label;      /* --h5 only */
    cd_dataset row;     /* --h5 only: the row itself, all its channels */
    cd_data_set_info *set; /* --h5 only */
} predict_state;

/* The first image size at which the checkpoint's weights load: its training data's, MNIST's 28x28,
 * then the first image's own. Every image must then have that size. */
static cd_status load_model(const predict_options *o, predict_state *s, cd_error *err)
{
    CD_TRY(cd_ckpt_verify(o->ckpt, &s->meta, err));
    char trained[CD_PATH_MAX];
    cd_error ignored = {0};
    int sizes[3][2], n_sizes = 0;
    cd_cli_ckpt_data_path(&s->meta, trained, sizeof trained);
    /* Checkpoints record their image size; the trained data file was asked before they did. */
    if (s->meta.data_height > 0 && s->meta.data_width > 0) {
        sizes[n_sizes][0] = (int)s->meta.data_height;
        sizes[n_sizes++][1] = (int)s->meta.data_width;
    }
    (void)ignored;
    sizes[n_sizes][0] = 28;
    sizes[n_sizes++][1] = 28;
    sizes[n_sizes][0] = s->images[0].height;
    sizes[n_sizes++][1] = s->images[0].width;
    cd_status st = CD_E_INPUT;
    for (int k = 0; k < n_sizes && st == CD_E_INPUT; k++) {
        st = cd_cli_load_model(o->ckpt, sizes[k][0], sizes[k][1], 1, o->kernels, NULL, NULL, &s->model, &s->meta, err);
        s->model_built = st == CD_OK;
    }
    if (st == CD_E_INPUT && strstr(err->msg, "images ("))
        return CD_FAIL(err, CD_E_INPUT, "%s: the model takes neither 28x28 images nor %dx%d ones like %s, and its "
                       "training data (%s) is not at hand to tell its image size", o->ckpt, s->images[0].height,
                       s->images[0].width, o->n_images ? o->images[0] : o->h5, trained[0] ? trained : "unrecorded");
    CD_TRY(st);
    const cd_shape in = s->model.input;
    for (int i = 0; i < s->n; i++)
        if (s->images[i].height != in.h || s->images[i].width != in.w)
            return CD_FAIL(err, CD_E_INPUT, "%s: image is %dx%d, but the model in %s takes %dx%d images",
                           o->n_images ? o->images[i] : o->h5, s->images[i].height, s->images[i].width, o->ckpt, in.h,
                           in.w);
    return CD_OK;
}

/* One row of the data set as an image. */
static cd_status load_h5(const predict_options *o, predict_state *s, cd_error *err)
{
    CD_ALLOC(err, s->set, 1);
    CD_TRY(cd_data_inspect_set(o->h5, s->set, err));
    const cd_data_info *info = strcmp(o->split, "train") == 0 ? &s->set->train : &s->set->test;
    if (strcmp(o->split, "test") == 0 && !s->set->has_test)
        return CD_FAIL(err, CD_E_INPUT, "%s: /test: missing group (use --split train)", o->h5);
    if (o->index >= info->count)
        return CD_FAIL(err, CD_E_INPUT, "--index %lld is out of range: %s /%s has %" PRId64 " images (0..%" PRId64 ")",
                       o->index, o->h5, o->split, info->count, info->count - 1);
    CD_TRY(cd_data_load_beating(o->h5, o->split, (int64_t)o->index, 1, s->set->classes, NULL, NULL, &s->row, err));
    cd_image *img = &s->images[0];
    img->height = s->row.height;
    img->width = s->row.width;
    /* The first channel stands for the image in the warnings and --save-pgm. */
    img->pixels = cd_alloc_zeroed((size_t)s->row.height * (size_t)s->row.width);
    if (img->pixels) memcpy(img->pixels, s->row.images, (size_t)s->row.height * (size_t)s->row.width);
    s->label = s->row.labels[0];
    if (!img->pixels) return CD_FAIL(err, CD_E_NOMEM, "out of memory for one image");
    s->n = 1;
    return CD_OK;
}

static double mean_pixel(const cd_image *img)
{
    const size_t n = (size_t)img->width * (size_t)img->height;
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += img->pixels[i];
    return sum / (double)n;
}

/* Logits -> probabilities, in double so the ten values add up to 1 to printing precision. */
static int softmax(const float *z, int classes, double *p)
{
    int best = 0;
    for (int c = 1; c < classes; c++)
        if (z[c] > z[best]) best = c;
    double sum = 0;
    for (int c = 0; c < classes; c++) sum += (p[c] = exp((double)z[c] - (double)z[best]));
    for (int c = 0; c < classes; c++) p[c] /= sum;
    return best;
}

static cd_status run_predict(const predict_options *o, predict_state *s, cd_error *err)
{
    if (o->h5) {
        CD_TRY(load_h5(o, s, err));
    } else {
        for (int i = 0; i < o->n_images; i++, s->n++) CD_TRY(cd_image_read(o->images[i], &s->images[i], err));
    }
    for (int i = 0; i < s->n; i++) {
        cd_image *img = &s->images[i];
        const size_t n = (size_t)img->width * (size_t)img->height;
        if (o->invert)
            for (size_t k = 0; k < n; k++) img->pixels[k] = (uint8_t)(255 - img->pixels[k]);
        const double mean = mean_pixel(img);
        /* Not inverted behind the user's back: an inverted image predicts poorly, so say so. */
        if (mean > 127.0)
            fprintf(stderr, "cnn_ddp: warning: %s: mean pixel %.0f > 127 looks like dark ink on a light background; "
                    "MNIST digits are white (255) on black (0)%s\n", o->n_images ? o->images[i] : o->h5, mean,
                    o->invert ? " (after --invert)" : ": pass --invert if so");
    }
    CD_TRY(load_model(o, s, err));
    if (o->h5) CD_TRY(cd_cli_check_data("predict", o->h5, s->set, &s->meta, err));
    const int channels = (int)s->meta.data_channels, classes = (int)s->meta.classes;
    if (o->save_pgm && channels > 1)
        return CD_FAIL(err, CD_E_USAGE, "--save-pgm: the model takes %d-channel images, which a PGM cannot hold",
                       channels);
    if (o->save_pgm) CD_TRY(cd_image_write_pgm(o->save_pgm, &s->images[0], err));
    double mean[CD_MAX_CHANNELS], std[CD_MAX_CHANNELS];
    CD_TRY(cd_cli_ckpt_norm(o->ckpt, &s->meta, mean, std, err));
    cd_model *m = &s->model;
    double *p = NULL;
    CD_ALLOC(err, p, classes);
    cd_status st = CD_OK;
    for (int i = 0; i < s->n && st == CD_OK; i++) {
        /* The data set's own conversion, so a saved image and its data set row give the same bits. An image
         * file is grey: each of the model's channels gets the grey value. */
        const size_t hw = (size_t)s->images[i].height * (size_t)s->images[i].width;
        cd_dataset one = {.count = 1, .height = s->images[i].height, .width = s->images[i].width,
                          .labels = &s->label, .channels = channels};
        uint8_t *pixels = o->h5 ? s->row.images : cd_alloc_zeroed(hw * (size_t)channels);
        if (!pixels) {
            st = CD_FAIL(err, CD_E_NOMEM, "out of memory for one image");
            break;
        }
        if (!o->h5)
            for (int c = 0; c < channels; c++) memcpy(pixels + (size_t)c * hw, s->images[i].pixels, hw);
        one.images = pixels;
        st = cd_data_set_norm(&one, mean, std, err);
        if (st == CD_OK) {
            cd_data_gather_range(&one, 0, 1, m->act[0], NULL);
            cd_model_forward(m, m->act[0], 1);
            const int best = softmax(cd_model_logits(m), classes, p);
            char name[256], named[272] = "";
            cd_data_class_name(s->meta.class_names, best, name, sizeof name);
            if (name[0]) snprintf(named, sizeof named, " (%s)", name);
            /* MNIST's word for a class, where the checkpoint's data is MNIST-shaped and names none */
            const char *word = !s->meta.class_names[0] && classes == 10 && channels == 1 ? "digit" : "class";
            if (o->h5)
                printf("%s /%s[%lld] (label %d): %s %d%s  p", o->h5, o->split, o->index, s->label, word, best, named);
            else
                printf("%s: %s %d%s  p", o->images[i], word, best, named);
            for (int c = 0; c < classes; c++) printf(" %d:%.4f", c, p[c]);
            printf("\n");
        }
        cd_free(one.norm);
        if (!o->h5) cd_free(pixels);
    }
    cd_free(p);
    return st;
}

int cd_cli_predict_main(int argc, char **argv)
{
    cd_error err = {0};
    predict_options *o = cd_alloc_zeroed(sizeof *o);
    predict_state *s = cd_alloc_zeroed(sizeof *s);
    cd_status st = o && s ? CD_OK : CD_FAIL(&err, CD_E_NOMEM, "out of memory");
    if (st == CD_OK) st = parse(argc, argv, o, &err);
    if (st == CD_OK && o->help) {
        fputs(cd_cli_predict_usage(), stdout);
    } else if (st == CD_OK) {
        st = run_predict(o, s, &err);
    }
    fflush(stdout);
    if (st != CD_OK) fprintf(stderr, "cnn_ddp: error: %s\n", err.msg);
    if (s) {
        if (s->model_built) cd_model_free(&s->model);
        for (int i = 0; i < MAX_IMAGES; i++) cd_image_free(&s->images[i]);
        cd_data_free(&s->row);
        cd_free(s->set);
    }
    cd_free(o);
    cd_free(s);
    return cd_status_exit_code(st);
}

const char *cd_cli_predict_usage(void)
{
    return "usage: cnn_ddp predict --ckpt FILE [--invert] [--kernels K] IMAGE...\n"
           "       cnn_ddp predict --ckpt FILE --h5 FILE.h5 --index I [--split test|train] [--save-pgm OUT.pgm]\n"
           "      the predicted class (its name when the data named them; \"digit\" for unnamed MNIST-shaped\n"
           "      data) and the softmax probability of every class. IMAGE: 8-bit PGM (P2/P5) or non-interlaced\n"
           "      8-bit PNG (grey, grey+alpha, RGB, RGBA; colour becomes grey, alpha is laid over black), of the\n"
           "      size the model was trained on; a model of C channels gets the grey value in each channel.\n"
           "      MNIST digits are white ink (255) on black (0): a dark-on-light image is reported (mean pixel\n"
           "      > 127), not changed; --invert turns it round. --save-pgm writes the image the model saw\n"
           "      (1-channel models only).\n";
}
