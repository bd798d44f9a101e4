/* Opening the CUDA backend (see backend_load.h). RTLD_LOCAL: its copies of the project's own code and
 * the CUDA libraries stay out of the executable's symbol scope; RTLD_NOW: a missing symbol is found
 * here, not in the middle of a step. */
#include "backend_load.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HOW_TO_GET "configure with -DCNN_DDP_CUDA=ON to build " CD_CUDA_BACKEND_FILE " beside cnn_ddp, or name it with " \
                   CD_CUDA_BACKEND_ENV

/* path = the directory of this process's executable + "/" CD_CUDA_BACKEND_FILE */
static cd_status beside_executable(const char *who, char *path, size_t size, cd_error *err)
{
    ssize_t n = readlink("/proc/self/exe", path, size - 1);
    if (n < 0)
        return CD_FAIL(err, CD_E_USAGE, "%s: cannot find the CUDA backend: /proc/self/exe: %s (%s)", who, strerror(errno),
                       HOW_TO_GET);
    path[n] = '\0';
    char *slash = strrchr(path, '/');
    size_t dir = slash ? (size_t)(slash - path) : 0;
    if (dir + 1 + sizeof CD_CUDA_BACKEND_FILE > size)
        return CD_FAIL(err, CD_E_USAGE, "%s: the executable's directory is too long to hold the CUDA backend's path (%s)",
                       who, HOW_TO_GET);
    memcpy(path + dir, "/" CD_CUDA_BACKEND_FILE, 1 + sizeof CD_CUDA_BACKEND_FILE);
    return CD_OK;
}

static cd_status check_table(const char *who, const char *path, const cd_backend *b, cd_error *err)
{
    const cd_backend_layout mine = CD_BACKEND_LAYOUT;
    if (!b || b->abi != CD_BACKEND_ABI || memcmp(&b->layout, &mine, sizeof mine) != 0 ||
        strcmp(b->version, CNN_DDP_VERSION) != 0)
        return CD_FAIL(err, CD_E_USAGE, "%s: the CUDA backend %s was built from another cnn_ddp (interface %d, version %s; "
                       "this cnn_ddp has interface %d, version %s, or the structs differ): build both in one tree",
                       who, path, b ? b->abi : -1, b && b->version ? b->version : "?", CD_BACKEND_ABI, CNN_DDP_VERSION);
    return CD_OK;
}

cd_status cd_cuda_backend_open(const char *who, int absent_ok, const cd_backend **out, cd_error *err)
{
    *out = NULL;
    char path[PATH_MAX];
    const char *env = getenv(CD_CUDA_BACKEND_ENV);
    const int named = env && *env;
    if (named) {
        if (strlen(env) >= sizeof path)
            return CD_FAIL(err, CD_E_USAGE, "%s: %s is longer than a path may be", who, CD_CUDA_BACKEND_ENV);
        strcpy(path, env);
    } else {
        CD_TRY(beside_executable(who, path, sizeof path, err));
        /* A build without CUDA has no backend: under --device auto that just means the CPU. */
        if (absent_ok && access(path, F_OK) != 0 && errno == ENOENT) return CD_OK;
    }
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *why = dlerror();
        return CD_FAIL(err, CD_E_USAGE, "%s: cannot load the CUDA backend%s: %s (%s)", who,
                       named ? " named by " CD_CUDA_BACKEND_ENV : "", why ? why : path, HOW_TO_GET);
    }
    /* POSIX's way to get a function from dlsym: through an object pointer of the same size. */
    void *sym = dlsym(lib, CD_BACKEND_ENTRY);
    if (!sym) {
        const char *why = dlerror();
        cd_status st = CD_FAIL(err, CD_E_USAGE, "%s: %s is not a cnn_ddp CUDA backend (%s)", who, path,
                               why ? why : CD_BACKEND_ENTRY);
        dlclose(lib); /* after the message: dlclose frees dlerror's text */
        return st;
    }
    cd_backend_entry_fn entry;
    memcpy(&entry, &sym, sizeof entry);
    const cd_backend *b = entry();
    cd_status st = check_table(who, path, b, err);
    if (st != CD_OK) return st; /* not closed: its code may hold the CUDA runtime already */
    *out = b;
    return CD_OK;
}
