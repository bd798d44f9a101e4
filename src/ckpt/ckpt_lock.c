/* One live job per checkpoint directory: rank 0 holds flock(LOCK_EX | LOCK_NB) on <dir>/.cnn_ddp.lock for
 * the life of the run. The file is never removed (removing it would let a third job lock a new file while
 * a second still holds the old one); its text names the holder, for the refusal message. */
#define _DEFAULT_SOURCE /* flock(2) is BSD, not POSIX */
#include "ckpt_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

/* The holder's line ("pid 1234 on host node7"), or "unknown" when the file says nothing usable. */
static void read_holder(int fd, char *out, size_t cap)
{
    char buf[256];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    size_t len = 0;
    for (; n > 0 && len < (size_t)n && buf[len] >= ' ' && buf[len] <= '~'; len++) {}
    if (len == 0) {
        snprintf(out, cap, "unknown");
        return;
    }
    snprintf(out, cap, "%.*s", (int)len, buf);
}

cd_status cd_ckpt_lock_dir(const char *dir, cd_ckpt_lock *lock, cd_error *err)
{
    lock->fd = -1;
    char path[CD_PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", dir, CD_CKPT_LOCK_NAME) >= (int)sizeof path)
        return CD_FAIL(err, CD_E_USAGE, "--ckpt-dir %s: the name is too long for its lock file", dir);
    /* O_NOFOLLOW: a symlink planted as the lock file must not make us write through it. */
    const int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) return CD_FAIL(err, CD_E_USAGE, "--ckpt-dir %s: cannot open its lock file %s: %s", dir, path,
                               strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        const int e = errno;
        char holder[256];
        read_holder(fd, holder, sizeof holder);
        close(fd);
        if (e == EWOULDBLOCK)
            return CD_FAIL(err, CD_E_USAGE, "--ckpt-dir %s is in use by another job (%s, lock %s): wait for it to "
                           "end, or give this run another --ckpt-dir", dir, holder, path);
        return CD_FAIL(err, CD_E_USAGE, "--ckpt-dir %s: cannot lock %s: %s", dir, path, strerror(e));
    }
    char host[128] = "";
    if (gethostname(host, sizeof host - 1) != 0) snprintf(host, sizeof host, "unknown");
    char text[200];
    const int len = snprintf(text, sizeof text, "pid %ld on host %s\n", (long)getpid(), host);
    /* Best effort: the lock is what matters, the text only names the holder. */
    if (ftruncate(fd, 0) == 0 && pwrite(fd, text, (size_t)len, 0) < 0) {}
    lock->fd = fd;
    return CD_OK;
}

void cd_ckpt_unlock_dir(cd_ckpt_lock *lock)
{
    if (lock->fd >= 0) close(lock->fd); /* closing the only descriptor releases the flock */
    lock->fd = -1;
}
