// The body tests of tests/test_cuda_bodies.c, compiled by nvcc as host C++: the __host__ __device__
// versions of the kernel bodies, the very code the kernels run, against the scalar reference.
#include "../test_cuda_bodies.c"
