/* HDF5 plumbing shared by every module that reads or writes HDF5: its automatic error printer is
 * silenced around our calls (and restored after, so a caller's own handler survives), and its error
 * stack is turned into one short reason for our one-line messages. */
#ifndef CNN_DDP_H5_QUIET_H
#define CNN_DDP_H5_QUIET_H

#include <hdf5.h>
#include <stddef.h>

typedef struct cd_h5_quiet {
    H5E_auto2_t func;
    void *data;
} cd_h5_quiet;

void cd_h5_quiet_begin(cd_h5_quiet *q);
void cd_h5_quiet_end(const cd_h5_quiet *q);
/* The innermost error's description (the OS message when the failure was a system call); returns buf. */
const char *cd_h5_reason(char *buf, size_t cap);

#endif
