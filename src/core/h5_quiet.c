/* See h5_quiet.h. */
#include "cnn_ddp/h5_quiet.h"

#include <stdio.h>
#include <string.h>

void cd_h5_quiet_begin(cd_h5_quiet *q)
{
    q->func = NULL;
    q->data = NULL;
    H5Eget_auto2(H5E_DEFAULT, &q->func, &q->data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void cd_h5_quiet_end(const cd_h5_quiet *q) { H5Eset_auto2(H5E_DEFAULT, q->func, q->data); }

static herr_t first_desc(unsigned n, const H5E_error2_t *e, void *ctx)
{
    char *out = ctx;
    if (n == 0 && e->desc != NULL) snprintf(out, 256, "%s", e->desc);
    return 0;
}

const char *cd_h5_reason(char *buf, size_t cap)
{
    char desc[256] = "";
    /* Upward: the first record is the innermost one, where the failure actually happened. */
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, first_desc, desc);
    /* Low-level I/O failures quote the OS: "..., error message = 'No space left on device', ...". */
    const char *quote = strstr(desc, "error message = '");
    if (quote != NULL) {
        quote += strlen("error message = '");
        const char *end = strchr(quote, '\'');
        int len = end ? (int)(end - quote) : (int)strlen(quote);
        snprintf(buf, cap, "%.*s", len, quote);
    } else {
        snprintf(buf, cap, "%s", desc[0] ? desc : "HDF5 error");
    }
    return buf;
}
