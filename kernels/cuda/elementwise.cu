// Fused elementwise kernels of the cupy kernel set (scratchgan/kernels/cupy_gpu.py).
// scalar_t is float or double (-Dscalar_t=float or double); every kernel is a grid-stride loop over n elements in
// which each thread owns its outputs (no shared memory, barriers or atomics), so that
// tests/cuda_host.py can run the same source on the CPU.

// out = x if x > 0 else slope x        (twin: ops.elementwise.leaky_relu_array)
extern "C" __global__ void leaky_relu(const scalar_t* x, scalar_t* out, long long n, scalar_t slope) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (long long)blockDim.x * gridDim.x) {
        scalar_t value = x[i];
        out[i] = value > 0 ? value : value * slope;
    }
}

// out = g if x > 0 else slope g        (twin: ops.elementwise.leaky_relu_grad_array)
extern "C" __global__ void leaky_relu_grad(const scalar_t* g, const scalar_t* x, scalar_t* out, long long n, scalar_t slope) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (long long)blockDim.x * gridDim.x) {
        out[i] = x[i] > 0 ? g[i] : g[i] * slope;
    }
}

// Adam, PyTorch's operation order (twin: optim.adam.adam_update_array):
//   m <- m + (1 - b1)(g - m);  v <- b2 v + (1 - b2) g g;
//   p <- p - step_size m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// The moments are updated in place; the new parameter goes to out.
extern "C" __global__ void adam_update(const scalar_t* param, const scalar_t* grad, scalar_t* exp_avg, scalar_t* exp_avg_sq,
                                       scalar_t* out, long long n, scalar_t one_minus_beta1, scalar_t beta2,
                                       scalar_t one_minus_beta2, scalar_t step_size, scalar_t bias_correction2_sqrt,
                                       scalar_t eps) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (long long)blockDim.x * gridDim.x) {
        scalar_t g = grad[i];
        scalar_t m = exp_avg[i] + one_minus_beta1 * (g - exp_avg[i]);
        scalar_t v = exp_avg_sq[i] * beta2 + one_minus_beta2 * g * g;
        exp_avg[i] = m;
        exp_avg_sq[i] = v;
        out[i] = param[i] - step_size * (m / (sqrt(v) / bias_correction2_sqrt + eps));
    }
}
