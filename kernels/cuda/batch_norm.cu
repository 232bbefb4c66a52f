// Batch-norm passes of the cupy kernel set. The per-channel sums are CuPy reductions
// (kernels/cupy_gpu.py); these kernels are the elementwise passes around them. x is
// (N, C, P) contiguous (P = H W, or 1 for BatchNorm1d), so element i has channel
// (i / P) % C. Same conventions as elementwise.cu.

// y = (x - mean_c) scale_c + bias_c,  scale_c = gamma_c / sqrt(var_c + eps)
// (twin: ops.norm.batch_norm_train_array)
extern "C" __global__ void batch_norm_apply(const scalar_t* x, const scalar_t* mean, const scalar_t* scale,
                                            const scalar_t* bias, scalar_t* y, long long n, long long channels,
                                            long long plane) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (long long)blockDim.x * gridDim.x) {
        long long c = (i / plane) % channels;
        y[i] = (x[i] - mean[c]) * scale[c] + bias[c];
    }
}

// dx = gamma_c invstd_c (g - mean_c(g) - x_hat mean_c(g x_hat)),  x_hat = (x - mean_c) invstd_c
// (twin: ops.norm.batch_norm_backward_array; mean_g and mean_g_xhat are the channel sums / count)
extern "C" __global__ void batch_norm_backward_input(const scalar_t* g, const scalar_t* x, const scalar_t* mean,
                                                     const scalar_t* invstd, const scalar_t* weight,
                                                     const scalar_t* mean_g, const scalar_t* mean_g_xhat, scalar_t* dx,
                                                     long long n, long long channels,
                                                     long long plane) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (long long)blockDim.x * gridDim.x) {
        long long c = (i / plane) % channels;
        scalar_t x_hat = (x[i] - mean[c]) * invstd[c];
        dx[i] = weight[c] * invstd[c] * (g[i] - mean_g[c] - x_hat * mean_g_xhat[c]);
    }
}
