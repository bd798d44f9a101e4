/* The CUDA replica (see include/model/cnn_ddp/replica.h): device buffers, the layer walk over a copy of
 * the host model's layer list, staging through pinned memory, the step buffer and the update. It sums
 * nothing across ranks itself: reduce_buffer hands the trainer the buffer in the memory its comm
 * backend sums (device memory for NCCL, pinned host memory for MPI). */
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn_ddp/cuda_kernels.h"
#include "cnn_ddp/fixed_point.h"
#include "cnn_ddp/replica.h"
#include "cuda_sync_mode.h"

typedef struct cuda_replica {
    cd_replica base;
    int device, rank;
    int sync_launches;                       /* CNN_DDP_CUDA_SYNC=1: synchronise and check after each launch */
    int n_layers;
    cd_layer layers[CD_MAX_LAYERS];
    cd_shape input;
    int classes, chunk, max_chunks, capacity; /* capacity: samples the buffers hold */
    size_t n_params;
    cudaStream_t stream;
    cudaEvent_t staged;                      /* the last upload from the pinned buffers finished */
    float *params, *momentum, *cgrad;        /* cgrad: [max_chunks][n_params] chunk gradients */
    int64_t *acc;                            /* [n_params + CD_SLOTS] */
    float *act[CD_MAX_LAYERS + 1], *grad[CD_MAX_LAYERS + 1];
    int32_t *argmax[CD_MAX_LAYERS];
    double *loss;
    int *hit;
    uint8_t *labels;
    cd_cu_failure *fail;
    int32_t *pred;                           /* [capacity]: predict's classes */
    /* pinned host memory */
    float *h_input;
    uint8_t *h_labels;
    int64_t *h_acc;                          /* [n_params + CD_SLOTS]: the step buffer summed by host */
    cd_cu_failure *h_fail;
    int32_t *h_pred;
} cuda_replica;

static cuda_replica *cu(cd_replica *r) { return (cuda_replica *)r->impl; }

/* A fault inside a kernel (not a bad launch): sticky, and reported by whichever CUDA call comes next. */
static int kernel_fault(cudaError_t rc)
{
    switch (rc) {
    case cudaErrorIllegalAddress: case cudaErrorLaunchFailure: case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress: case cudaErrorInvalidAddressSpace: case cudaErrorInvalidPc:
    case cudaErrorHardwareStackError: case cudaErrorAssert: case cudaErrorLaunchTimeout:
    case cudaErrorECCUncorrectable:
        return 1;
    default:
        return 0;
    }
}

static const char *fault_hint(cudaError_t rc, int sync)
{
    return kernel_fault(rc) && !sync ? "; a kernel launched earlier faulted: run with " CD_CUDA_SYNC_ENV
                                       "=1 to have the failing kernel named"
                                     : "";
}

static cd_status cuda_check(cudaError_t rc, const char *call, const char *file, int line, int rank, int sync,
                            cd_error *err)
{
    if (rc == cudaSuccess) return CD_OK;
    cd_status code = rc == cudaErrorMemoryAllocation ? CD_E_NOMEM
                     : (rc == cudaErrorNoDevice || rc == cudaErrorInvalidDevice || rc == cudaErrorInsufficientDriver)
                         ? CD_E_USAGE
                         : CD_E_INTERNAL;
    return cd_error_set(err, code, file, line, "rank %d: %s failed at %s:%d: %s (%s)%s", rank, call, file, line,
                        cudaGetErrorString(rc), cudaGetErrorName(rc), fault_hint(rc, sync));
}
#define CK(call) CD_TRY(cuda_check((call), #call, __FILE__, __LINE__, r->rank, r->sync_launches, err))

/* After each kernel launch (a launcher of cuda_kernels.h, `layer` its layer or -1): a bad launch
 * (configuration, no kernel image for this GPU) is reported at once with the kernel's name; with
 * CNN_DDP_CUDA_SYNC=1 the stream is synchronised too, so a fault while the kernel runs is as well. */
static cd_status launched(cuda_replica *r, const char *kernel, int layer, cd_error *err)
{
    cudaError_t rc = cudaGetLastError();
    const char *when = "to launch";
    if (rc == cudaSuccess && r->sync_launches) {
        rc = cudaStreamSynchronize(r->stream);
        when = "while running";
    }
    if (rc == cudaSuccess) return CD_OK;
    char where[48] = "";
    if (layer >= 0) snprintf(where, sizeof where, " (layer %s)", r->layers[layer].name);
    const cd_status code = rc == cudaErrorMemoryAllocation ? CD_E_NOMEM : CD_E_INTERNAL;
    return CD_FAIL(err, code, "rank %d: CUDA kernel %s%s failed %s: %s (%s)%s", r->rank, kernel, where, when,
                   cudaGetErrorString(rc), cudaGetErrorName(rc), fault_hint(rc, r->sync_launches));
}
#define LAUNCHED(kernel, layer) CD_TRY(launched(r, kernel, layer, err))


extern "C" int cd_cuda_device_count(const char **why)
{
    int n = 0;
    cudaError_t rc = cudaGetDeviceCount(&n);
    if (why) *why = rc == cudaSuccess ? (n ? NULL : "no device") : cudaGetErrorName(rc);
    if (rc == cudaSuccess) return n;
    (void)cudaGetLastError(); /* the query's error is answered here, not by the next call */
    if (rc == cudaErrorNoDevice) return 0;
    /* No libcuda at all (a machine without a GPU driver) reads as "insufficient driver" with driver
     * version 0: no GPU, not a broken one. A driver that is there but too old is an error. */
    int driver = -1;
    if (rc == cudaErrorInsufficientDriver && cudaDriverGetVersion(&driver) == cudaSuccess && driver == 0) {
        if (why) *why = "cudaErrorInsufficientDriver: no CUDA driver is installed";
        return 0;
    }
    return -1;
}

extern "C" cd_status cd_cuda_device_bus_id(int device, char *out, size_t size, cd_error *err)
{
    char id[64] = "";
    cudaError_t rc = cudaDeviceGetPCIBusId(id, (int)sizeof id, device);
    if (rc != cudaSuccess)
        return CD_FAIL(err, CD_E_INTERNAL, "cudaDeviceGetPCIBusId(device %d) failed: %s (%s)", device,
                       cudaGetErrorString(rc), cudaGetErrorName(rc));
    snprintf(out, size, "%s", id);
    return CD_OK;
}

static void cuda_free(cd_replica *base)
{
    if (!base) return;
    cuda_replica *r = cu(base);
    cudaSetDevice(r->device);
    if (r->stream) cudaStreamSynchronize(r->stream);
    cudaFree(r->params), cudaFree(r->momentum), cudaFree(r->cgrad), cudaFree(r->acc);
    for (int i = 0; i <= CD_MAX_LAYERS; i++) {
        cudaFree(r->act[i]), cudaFree(r->grad[i]);
        if (i < CD_MAX_LAYERS) cudaFree(r->argmax[i]);
    }
    cudaFree(r->loss), cudaFree(r->hit), cudaFree(r->labels), cudaFree(r->fail), cudaFree(r->pred);
    cudaFreeHost(r->h_input), cudaFreeHost(r->h_labels), cudaFreeHost(r->h_acc), cudaFreeHost(r->h_fail);
    cudaFreeHost(r->h_pred);
    if (r->staged) cudaEventDestroy(r->staged);
    if (r->stream) cudaStreamDestroy(r->stream);
    cd_free(r);
}

template <typename T> static cudaError_t dev_alloc(T **p, size_t count)
{
    return cudaMalloc((void **)p, sizeof(T) * (count ? count : 1));
}

static cd_status create(cuda_replica *r, cd_error *err)
{
    const char *why = NULL;
    int count = cd_cuda_device_count(&why);
    if (count < 0)
        return CD_FAIL(err, CD_E_USAGE, "rank %d: the CUDA runtime cannot count the GPUs: cudaGetDeviceCount says %s",
                       r->rank, why ? why : "?");
    if (r->device < 0 || r->device >= count)
        return CD_FAIL(err, CD_E_USAGE, "rank %d: CUDA device %d requested but %d visible%s%s", r->rank, r->device, count,
                       why ? ": " : "", why ? why : "");
    CK(cudaSetDevice(r->device));
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, r->device));
    snprintf(r->base.name, sizeof r->base.name, "%s (device %d)", prop.name, r->device);
    CK(cudaStreamCreateWithFlags(&r->stream, cudaStreamNonBlocking));
    CK(cudaEventCreateWithFlags(&r->staged, cudaEventDisableTiming));

    const size_t n = r->n_params, cap = (size_t)r->capacity;
    CK(dev_alloc(&r->params, n));
    CK(dev_alloc(&r->momentum, n));
    CK(dev_alloc(&r->cgrad, n * (size_t)r->max_chunks));
    CK(dev_alloc(&r->acc, n + CD_SLOTS));
    for (int i = 0; i <= r->n_layers; i++) {
        size_t per = cd_shape_size(i == 0 ? r->input : r->layers[i - 1].out);
        CK(dev_alloc(&r->act[i], per * cap));
        CK(dev_alloc(&r->grad[i], per * cap));
    }
    for (int i = 0; i < r->n_layers; i++)
        if (r->layers[i].spec.type == CD_LAYER_POOL) CK(dev_alloc(&r->argmax[i], cd_shape_size(r->layers[i].out) * cap));
    CK(dev_alloc(&r->loss, cap));
    CK(dev_alloc(&r->hit, cap));
    CK(dev_alloc(&r->labels, cap));
    CK(dev_alloc(&r->fail, 1));
    CK(dev_alloc(&r->pred, cap));
    CK(cudaMallocHost((void **)&r->h_input, sizeof(float) * cd_shape_size(r->input) * cap));
    CK(cudaMallocHost((void **)&r->h_labels, cap));
    CK(cudaMallocHost((void **)&r->h_acc, sizeof(int64_t) * (n + CD_SLOTS)));
    CK(cudaMallocHost((void **)&r->h_fail, sizeof(cd_cu_failure)));
    CK(cudaMallocHost((void **)&r->h_pred, sizeof(int32_t) * cap));
    CK(cudaMemsetAsync(r->params, 0, sizeof(float) * n, r->stream));
    CK(cudaMemsetAsync(r->momentum, 0, sizeof(float) * n, r->stream));
    CK(cudaEventRecord(r->staged, r->stream));
    CK(cudaStreamSynchronize(r->stream));
    return CD_OK;
}

static cd_status cuda_upload(cd_replica *base, const float *params, const float *momentum, cd_error *err)
{
    cuda_replica *r = cu(base);
    CK(cudaSetDevice(r->device));
    CK(cudaMemcpyAsync(r->params, params, sizeof(float) * r->n_params, cudaMemcpyHostToDevice, r->stream));
    CK(cudaMemcpyAsync(r->momentum, momentum, sizeof(float) * r->n_params, cudaMemcpyHostToDevice, r->stream));
    CK(cudaStreamSynchronize(r->stream)); /* the caller may reuse its buffers at once */
    return CD_OK;
}

static cd_status cuda_download(cd_replica *base, float *params, float *momentum, cd_error *err)
{
    cuda_replica *r = cu(base);
    CK(cudaSetDevice(r->device));
    CK(cudaMemcpyAsync(params, r->params, sizeof(float) * r->n_params, cudaMemcpyDeviceToHost, r->stream));
    CK(cudaMemcpyAsync(momentum, r->momentum, sizeof(float) * r->n_params, cudaMemcpyDeviceToHost, r->stream));
    CK(cudaStreamSynchronize(r->stream));
    return CD_OK;
}

static float *cuda_input(cd_replica *base)
{
    cuda_replica *r = cu(base);
    cudaEventSynchronize(r->staged); /* a failure here resurfaces at the next checked call */
    return r->h_input;
}

static uint8_t *cuda_labels(cd_replica *base)
{
    cuda_replica *r = cu(base);
    cudaEventSynchronize(r->staged);
    return r->h_labels;
}

static cd_status cuda_begin_step(cd_replica *base, cd_error *err)
{
    cuda_replica *r = cu(base);
    CK(cudaSetDevice(r->device));
    CK(cudaMemsetAsync(r->acc, 0, sizeof(int64_t) * (r->n_params + CD_SLOTS), r->stream));
    CK(cudaMemsetAsync(r->fail, 0xff, sizeof(cd_cu_failure), r->stream)); /* key = CD_CU_NO_FAILURE */
    return CD_OK;
}

static cd_status stage(cuda_replica *r, int n, cd_error *err)
{
    CK(cudaMemcpyAsync(r->act[0], r->h_input, sizeof(float) * cd_shape_size(r->input) * (size_t)n,
                       cudaMemcpyHostToDevice, r->stream));
    CK(cudaMemcpyAsync(r->labels, r->h_labels, (size_t)n, cudaMemcpyHostToDevice, r->stream));
    CK(cudaEventRecord(r->staged, r->stream));
    return CD_OK;
}

/* act[0] -> logits for n samples: per-sample ops, so one launch covers every chunk. */
static cd_status forward(cuda_replica *r, int n, cd_error *err)
{
    for (int i = 0; i < r->n_layers; i++) {
        const cd_layer *l = &r->layers[i];
        const float *w = r->params + l->weight_offset, *b = r->params + l->bias_offset;
        switch (l->spec.type) {
        case CD_LAYER_CONV:
            cd_cu_conv_forward(r->stream, cd_layer_conv_shape(l, n), r->act[i], w, b, r->act[i + 1]);
            LAUNCHED("cd_cu_conv_forward", i);
            break;
        case CD_LAYER_POOL:
            cd_cu_pool_forward(r->stream, cd_layer_pool_shape(l, n), r->act[i], r->act[i + 1], r->argmax[i]);
            LAUNCHED("cd_cu_pool_forward", i);
            break;
        case CD_LAYER_RELU:
            cd_cu_relu_forward(r->stream, cd_shape_size(l->in) * (size_t)n, r->act[i], r->act[i + 1]);
            LAUNCHED("cd_cu_relu_forward", i);
            break;
        case CD_LAYER_FLATTEN:
            CK(cudaMemcpyAsync(r->act[i + 1], r->act[i], sizeof(float) * cd_shape_size(l->in) * (size_t)n,
                               cudaMemcpyDeviceToDevice, r->stream));
            break;
        case CD_LAYER_LINEAR:
            cd_cu_linear_forward(r->stream, cd_layer_linear_shape(l, n), r->act[i], w, b, r->act[i + 1]);
            LAUNCHED("cd_cu_linear_forward", i);
            break;
        }
    }
    return CD_OK;
}

/* grad[n_layers] -> chunk gradients in cgrad (and input gradients above the lowest parameter layer). */
static cd_status backward(cuda_replica *r, int chunks, cd_error *err)
{
    const int n = chunks * r->chunk;
    const int lowest = cd_layers_lowest_with_params(r->layers, r->n_layers);
    for (int i = r->n_layers - 1; i >= lowest; i--) {
        const cd_layer *l = &r->layers[i];
        const int need_dx = i > lowest;
        const float *w = r->params + l->weight_offset;
        switch (l->spec.type) {
        case CD_LAYER_CONV:
            cd_cu_conv_backward_weights(r->stream, cd_layer_conv_shape(l, r->chunk), chunks, r->act[i], r->grad[i + 1], r->cgrad,
                                        r->n_params, l->weight_offset, l->bias_offset);
            LAUNCHED("cd_cu_conv_backward_weights", i);
            if (need_dx) {
                cd_cu_conv_backward_data(r->stream, cd_layer_conv_shape(l, n), r->grad[i + 1], w, r->grad[i]);
                LAUNCHED("cd_cu_conv_backward_data", i);
            }
            break;
        case CD_LAYER_POOL:
            if (need_dx) {
                cd_cu_pool_backward(r->stream, cd_layer_pool_shape(l, n), r->grad[i + 1], r->argmax[i], r->grad[i]);
                LAUNCHED("cd_cu_pool_backward", i);
            }
            break;
        case CD_LAYER_RELU:
            if (need_dx) {
                cd_cu_relu_backward(r->stream, cd_shape_size(l->in) * (size_t)n, r->act[i + 1], r->grad[i + 1], r->grad[i]);
                LAUNCHED("cd_cu_relu_backward", i);
            }
            break;
        case CD_LAYER_FLATTEN:
            if (need_dx)
                CK(cudaMemcpyAsync(r->grad[i], r->grad[i + 1], sizeof(float) * cd_shape_size(l->in) * (size_t)n,
                                   cudaMemcpyDeviceToDevice, r->stream));
            break;
        case CD_LAYER_LINEAR:
            cd_cu_linear_backward_weights(r->stream, cd_layer_linear_shape(l, r->chunk), chunks, r->act[i], r->grad[i + 1],
                                          r->cgrad, r->n_params, l->weight_offset, l->bias_offset);
            LAUNCHED("cd_cu_linear_backward_weights", i);
            if (need_dx) {
                cd_cu_linear_backward_data(r->stream, cd_layer_linear_shape(l, n), r->grad[i + 1], w, r->grad[i]);
                LAUNCHED("cd_cu_linear_backward_data", i);
            }
            break;
        }
    }
    return CD_OK;
}

static cd_status cuda_chunks(cd_replica *base, int first_chunk, int n_chunks, float scale, int64_t poison, cd_error *err)
{
    cuda_replica *r = cu(base);
    if (n_chunks < 1 || n_chunks > r->max_chunks)
        return CD_FAIL(err, CD_E_INTERNAL, "cuda replica: %d chunks (1..%d allowed)", n_chunks, r->max_chunks);
    const int n = n_chunks * r->chunk;
    CK(cudaSetDevice(r->device));
    CD_TRY(stage(r, n, err));
    CD_TRY(forward(r, n, err));
    int64_t *slots = r->acc + r->n_params;
    cd_cu_softmax_xent(r->stream, n, r->classes, r->act[r->n_layers], r->labels, scale, r->grad[r->n_layers], r->loss,
                       r->hit);
    LAUNCHED("cd_cu_softmax_xent", -1);
    cd_cu_chunk_losses(r->stream, n_chunks, r->chunk, r->loss, r->hit, scale, first_chunk, r->n_params, slots, r->fail);
    LAUNCHED("cd_cu_chunk_losses", -1);
    CD_TRY(backward(r, n_chunks, err));
    cd_cu_fixed_accumulate(r->stream, r->n_params, n_chunks, r->cgrad, first_chunk, poison, r->acc, slots, r->fail);
    LAUNCHED("cd_cu_fixed_accumulate", -1);
    return CD_OK;
}

/* The device's own error flag stays: a failure chunks() recorded is in the error slot already. */
static cd_status cuda_reduce_buffer(cd_replica *base, cd_memory memory, int stop, int error, int64_t **buf,
                                    cd_error *err)
{
    cuda_replica *r = cu(base);
    const size_t n = r->n_params, total = n + CD_SLOTS;
    int64_t *h_slots = r->h_acc + n;
    CK(cudaSetDevice(r->device));
    if (memory == CD_MEMORY_CUDA) {
        /* Only the two flags cross to the device; the sum stays there. */
        h_slots[CD_SLOT_STOP] = stop ? 1 : 0;
        h_slots[CD_SLOT_ERROR] = 1;
        CK(cudaMemcpyAsync(r->acc + n + CD_SLOT_STOP, &h_slots[CD_SLOT_STOP], sizeof(int64_t), cudaMemcpyHostToDevice,
                           r->stream));
        if (error)
            CK(cudaMemcpyAsync(r->acc + n + CD_SLOT_ERROR, &h_slots[CD_SLOT_ERROR], sizeof(int64_t),
                               cudaMemcpyHostToDevice, r->stream));
        CK(cudaStreamSynchronize(r->stream)); /* the comm sums on its own stream */
        *buf = r->acc;
        return CD_OK;
    }
    CK(cudaMemcpyAsync(r->h_acc, r->acc, sizeof(int64_t) * total, cudaMemcpyDeviceToHost, r->stream));
    CK(cudaStreamSynchronize(r->stream));
    h_slots[CD_SLOT_STOP] = stop ? 1 : 0;
    if (error) h_slots[CD_SLOT_ERROR] = 1;
    *buf = r->h_acc;
    return CD_OK;
}

static cd_status cuda_reduced(cd_replica *base, cd_memory memory, int64_t slots[CD_SLOTS], cd_error *err)
{
    cuda_replica *r = cu(base);
    const size_t n = r->n_params;
    int64_t *h_slots = r->h_acc + n;
    CK(cudaSetDevice(r->device));
    if (memory == CD_MEMORY_CUDA) {
        CK(cudaMemcpyAsync(h_slots, r->acc + n, sizeof(int64_t) * CD_SLOTS, cudaMemcpyDeviceToHost, r->stream));
        CK(cudaStreamSynchronize(r->stream));
    } else {
        /* h_acc must not change before this copy is done: its next writer is reduce_buffer, after the
         * next step's synchronisation. */
        CK(cudaMemcpyAsync(r->acc, r->h_acc, sizeof(int64_t) * (n + CD_SLOTS), cudaMemcpyHostToDevice, r->stream));
    }
    memcpy(slots, h_slots, sizeof(int64_t) * CD_SLOTS);
    return CD_OK;
}

static cd_status cuda_failure(cd_replica *base, int *chunk, cd_error *err)
{
    cuda_replica *r = cu(base);
    *chunk = -1;
    CK(cudaSetDevice(r->device));
    CK(cudaMemcpyAsync(r->h_fail, r->fail, sizeof(cd_cu_failure), cudaMemcpyDeviceToHost, r->stream));
    CK(cudaStreamSynchronize(r->stream));
    const cd_cu_failure f = *r->h_fail;
    if (f.key == CD_CU_NO_FAILURE) return CD_OK;
    const size_t n = r->n_params;
    *chunk = (int)(f.key / (n + 1));
    unsigned long long j = f.key % (n + 1);
    if (j == 0) return CD_FAIL(err, CD_E_NUMERIC, "loss is %g: training diverged", f.value);
    size_t i = (size_t)(j - 1);
    double v = f.value;
    if (isnan(v)) return CD_FAIL(err, CD_E_NUMERIC, "gradient element %zu (of %zu) is nan", i, n);
    if (isinf(v)) return CD_FAIL(err, CD_E_NUMERIC, "gradient element %zu (of %zu) is %s", i, n, v > 0 ? "inf" : "-inf");
    if (fabs(v) > CD_FIXED_LIMIT)
        return CD_FAIL(err, CD_E_NUMERIC, "gradient element %zu (of %zu) is %.9g, beyond the fixed-point limit %g", i, n, v,
                       CD_FIXED_LIMIT);
    return CD_FAIL(err, CD_E_NUMERIC, "gradient element %zu (of %zu): fixed-point sum overflows adding %.9g", i, n, v);
}

static cd_status cuda_update(cd_replica *base, float lr, float momentum, cd_error *err)
{
    cuda_replica *r = cu(base);
    CK(cudaSetDevice(r->device));
    cd_cu_sgd_fixed(r->stream, r->n_params, r->acc, r->params, r->momentum, lr, momentum);
    LAUNCHED("cd_cu_sgd_fixed", -1);
    return CD_OK;
}

static cd_status cuda_predict(cd_replica *base, int n, int32_t *pred, cd_error *err)
{
    cuda_replica *r = cu(base);
    if (n < 1 || n > r->capacity) return CD_FAIL(err, CD_E_INTERNAL, "cuda replica: predict %d (1..%d)", n, r->capacity);
    CK(cudaSetDevice(r->device));
    CD_TRY(stage(r, n, err));
    CD_TRY(forward(r, n, err));
    cd_cu_predict(r->stream, n, r->classes, r->act[r->n_layers], r->pred);
    LAUNCHED("cd_cu_predict", -1);
    CK(cudaMemcpyAsync(r->h_pred, r->pred, sizeof(int32_t) * (size_t)n, cudaMemcpyDeviceToHost, r->stream));
    CK(cudaStreamSynchronize(r->stream));
    memcpy(pred, r->h_pred, sizeof(int32_t) * (size_t)n);
    return CD_OK;
}

/* After predict(n): its logits, [n][classes], to the host. */
static cd_status cuda_logits(cd_replica *base, int n, float *out, cd_error *err)
{
    cuda_replica *r = cu(base);
    CK(cudaSetDevice(r->device));
    CK(cudaStreamSynchronize(r->stream));
    CK(cudaMemcpy(out, r->act[r->n_layers], sizeof(float) * (size_t)n * (size_t)r->classes, cudaMemcpyDeviceToHost));
    return CD_OK;
}

static const cd_replica_ops cuda_ops = {
    /* .input = */ cuda_input, /* .labels = */ cuda_labels, /* .begin_step = */ cuda_begin_step,
    /* .chunks = */ cuda_chunks, /* .reduce_buffer = */ cuda_reduce_buffer, /* .reduced = */ cuda_reduced,
    /* .failure = */ cuda_failure, /* .update = */ cuda_update, /* .predict = */ cuda_predict,
    /* .upload = */ cuda_upload, /* .download = */ cuda_download, /* .free = */ cuda_free,
    /* .logits = */ cuda_logits,
};

extern "C" cd_status cd_replica_cuda(const cd_model *host, int device, int rank, int chunk, int max_chunks,
                                     cd_replica **out, cd_error *err)
{
    *out = NULL;
    if (chunk < 1 || max_chunks < 1)
        return CD_FAIL(err, CD_E_INTERNAL, "cuda replica: chunk %d x %d chunks", chunk, max_chunks);
    /* The device sums a chunk's samples in float before the fixed-point conversion; the CPU converts
     * each sample. Only one-sample chunks (what the trainer uses) give the CPU's bits. */
    if (chunk != 1)
        return CD_FAIL(err, CD_E_INTERNAL, "cuda replica: chunk %d: only one-sample chunks give the CPU's bits", chunk);
    int sync = 0;
    CD_TRY(cd_cuda_sync_mode(getenv(CD_CUDA_SYNC_ENV), &sync, err));
    cuda_replica *r = (cuda_replica *)cd_alloc_zeroed(sizeof *r);
    if (!r) return CD_FAIL(err, CD_E_NOMEM, "out of memory allocating the CUDA replica");
    r->sync_launches = sync;
    r->device = device;
    r->rank = rank;
    r->n_layers = host->n_layers;
    memcpy(r->layers, host->layers, sizeof r->layers);
    r->input = host->input;
    r->classes = host->classes;
    r->chunk = chunk;
    r->max_chunks = max_chunks;
    r->capacity = chunk * max_chunks > host->max_batch ? chunk * max_chunks : host->max_batch;
    r->n_params = host->arena.count;
    cd_replica *b = &r->base;
    b->ops = &cuda_ops;
    b->device = "cuda";
    b->n_params = r->n_params;
    b->chunk = chunk;
    b->max_chunks = max_chunks;
    b->max_batch = host->max_batch;
    b->impl = r;
    cd_status st = create(r, err);
    if (st != CD_OK) {
        cuda_free(b);
        return st;
    }
    *out = b;
    return CD_OK;
}

extern "C" cd_status cd_replica_cuda_sum(cd_replica *base, int64_t *out, cd_error *err)
{
    cuda_replica *r = cu(base);
    CK(cudaSetDevice(r->device));
    CK(cudaMemcpyAsync(out, r->acc, sizeof(int64_t) * (r->n_params + CD_SLOTS), cudaMemcpyDeviceToHost, r->stream));
    CK(cudaStreamSynchronize(r->stream));
    return CD_OK;
}
