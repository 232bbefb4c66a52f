// im2col and col2im of the cupy kernel set: convolution lowered to one cuBLAS GEMM.
// Layouts (Caffe's and Chainer's GPU lowering, channel-major columns):
//   image x (N, C, H, W) contiguous;  columns (C, kh, kw, N, Ho, Wo) contiguous,
//   column (c, i, j, n, oy, ox) = x[n, c, oy sy - py + i dy, ox sx - px + j dx] (0 outside).
// Same conventions as elementwise.cu (grid-stride loops, each thread owns its outputs).

// One thread per column element: a gather, so every element is written exactly once.
// (twin: ops.conv.im2col)
extern "C" __global__ void im2col(const scalar_t* x, scalar_t* cols, long long n, long long c, long long h,
                                  long long w, long long kh, long long kw, long long sy,
                                  long long sx, long long py, long long px, long long dy,
                                  long long dx, long long ho, long long wo) {
    long long total = c * kh * kw * n * ho * wo;
    for (long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x; k < total;
         k += (long long)blockDim.x * gridDim.x) {
        long long ox = k % wo;
        long long oy = (k / wo) % ho;
        long long b = (k / (wo * ho)) % n;
        long long j = (k / (wo * ho * n)) % kw;
        long long i = (k / (wo * ho * n * kw)) % kh;
        long long channel = k / (wo * ho * n * kw * kh);
        long long y = oy * sy - py + i * dy;
        long long xx = ox * sx - px + j * dx;
        cols[k] = (y >= 0 && y < h && xx >= 0 && xx < w)
                      ? x[((b * c + channel) * h + y) * w + xx] : (scalar_t)0;
    }
}

// The adjoint of im2col: x[n, c, y, x] = sum of the columns that read it. One thread per
// image element sums its (at most kh kw) contributions in a fixed order: deterministic,
// no atomics. Input position y is read by kernel row i at output row oy when
// y + py - i dy = oy sy with 0 <= oy < ho.  (twin: ops.conv.col2im)
extern "C" __global__ void col2im(const scalar_t* cols, scalar_t* x, long long n, long long c, long long h,
                                  long long w, long long kh, long long kw, long long sy,
                                  long long sx, long long py, long long px, long long dy,
                                  long long dx, long long ho, long long wo) {
    long long total = n * c * h * w;
    for (long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x; k < total;
         k += (long long)blockDim.x * gridDim.x) {
        long long xx = k % w;
        long long y = (k / w) % h;
        long long channel = (k / (w * h)) % c;
        long long b = k / (w * h * c);
        scalar_t sum = 0;
        for (long long i = 0; i < kh; ++i) {
            long long row = y + py - i * dy;
            if (row < 0 || row % sy != 0 || row / sy >= ho) continue;
            long long oy = row / sy;
            for (long long j = 0; j < kw; ++j) {
                long long col = xx + px - j * dx;
                if (col < 0 || col % sx != 0 || col / sx >= wo) continue;
                long long ox = col / sx;
                sum += cols[((((channel * kh + i) * kw + j) * n + b) * ho + oy) * wo + ox];
            }
        }
        x[k] = sum;
    }
}
