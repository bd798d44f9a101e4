/* The closest known name to a mistyped one (see cnn_ddp/suggest.h). */
#include "cnn_ddp/suggest.h"

#include <ctype.h>
#include <stdint.h>
#include <string.h>

static int same_letter(char a, char b) { return tolower((unsigned char)a) == tolower((unsigned char)b); }

size_t cd_edit_distance(const char *a, size_t na, const char *b)
{
    const size_t nb = strlen(b);
    size_t rows[3][64]; /* rows i-2, i-1 and i, by i % 3 */
    if (na >= 64 || nb >= 64) return SIZE_MAX;
    for (size_t j = 0; j <= nb; j++) rows[0][j] = j;
    for (size_t i = 1; i <= na; i++) {
        size_t *cur = rows[i % 3], *up = rows[(i - 1) % 3], *up2 = rows[(i + 1) % 3];
        cur[0] = i;
        for (size_t j = 1; j <= nb; j++) {
            size_t best = up[j - 1] + !same_letter(a[i - 1], b[j - 1]);
            if (up[j] + 1 < best) best = up[j] + 1;
            if (cur[j - 1] + 1 < best) best = cur[j - 1] + 1;
            if (i > 1 && j > 1 && same_letter(a[i - 1], b[j - 2]) && same_letter(a[i - 2], b[j - 1]) &&
                up2[j - 2] + 1 < best)
                best = up2[j - 2] + 1;
            cur[j] = best;
        }
    }
    return rows[na % 3][nb];
}

static int begins(const char *name, const char *word, size_t len)
{
    if (strlen(name) < len) return 0;
    for (size_t k = 0; k < len; k++)
        if (!same_letter(name[k], word[k])) return 0;
    return 1;
}

const char *cd_suggest(const char *word, size_t len, const char *const *names, size_t n)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (size_t k = 0; k < n; k++) {
        const size_t d = cd_edit_distance(word, len, names[k]);
        if (d < best_d) best_d = d, best = names[k];
    }
    if (best && best_d <= 2 && best_d < len) return best;
    for (size_t k = 0; len >= 2 && k < n; k++)
        if (begins(names[k], word, len)) return names[k];
    return NULL;
}
