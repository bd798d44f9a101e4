/* "did you mean ...?": the known name closest to a mistyped one, for the messages that refuse a flag,
 * a subcommand, a model or a layer name. */
#ifndef CNN_DDP_SUGGEST_H
#define CNN_DDP_SUGGEST_H

#include <stddef.h>

/* Edits between a[0..na) and the string b, ignoring case: insertions, deletions, substitutions and
 * swaps of two neighbours (optimal string alignment, i.e. restricted Damerau-Levenshtein). Names of
 * 64 characters or more are never close: SIZE_MAX. */
size_t cd_edit_distance(const char *a, size_t na, const char *b);

/* The one of names[0..n) closest to word[0..len): the first at the smallest distance when that is at most
 * 2 and less than len (so "x" suggests nothing), else the first name that word (2 letters or more) begins;
 * NULL when none is close. An exact match (ignoring case) is returned as well: the caller asked because
 * the word was refused, so a difference in case is the likely mistake. */
const char *cd_suggest(const char *word, size_t len, const char *const *names, size_t n);

#endif
