// Philox4x32-10 counter-based random numbers on the GPU (CuPy RawModule / NVRTC).
//
// Philox (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy as 1, 2, 3",
// SC 2011; the generator behind cuRAND's Philox and JAX's PRNG) is a keyed bijection of a
// 128-bit counter: output = philox(counter, key). There is no sequential state, so every
// thread computes its own block of 4 x 32 random bits from its block index alone.
//
// Stream layout, shared bit for bit with the NumPy twin kernels/philox.py:
//   key       = (seed & 0xffffffff, seed >> 32)                 64-bit seed
//   counter_b = (b & 0xffffffff, b >> 32, 0, 0),  b = offset + j  (mod 2^64)
// where offset counts the blocks consumed by earlier draws and j is the block index
// within this draw. Block j fills the outputs 4j..4j+3 (float) or 2j..2j+1 (double);
// a draw of n values consumes ceil(n / 4) (float) or ceil(n / 2) (double) blocks, and
// the outputs past n in the last block are not written.
//
// Compile with -DT=float -DT_IS_DOUBLE=0 or -DT=double -DT_IS_DOUBLE=1. No #include:
// NVRTC has no standard headers, and the host emulator (g++) supplies <cmath>.

#ifndef scalar_t
#error "philox.cu: compile with -DT=float or -DT=double"
#endif
#ifndef SCALAR_IS_DOUBLE
#error "philox.cu: compile with -DT_IS_DOUBLE=0 or -DT_IS_DOUBLE=1"
#endif

// Round multipliers and Weyl key increments (golden ratio, sqrt(3) - 1) of Philox4x32.
#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

// 2^-24 and 2^-53: the spacing of the float and double uniforms; 2 pi for Box-Muller.
// kernels/philox.py uses the same literals, so the host twin rounds them identically.
#define PHILOX_2POW_M24 5.9604644775390625e-08
#define PHILOX_2POW_M53 1.1102230246251565e-16
#define PHILOX_TWO_PI 6.283185307179586

// High 32 bits of the 64-bit product (the __umulhi intrinsic, written so g++ compiles it).
__device__ __forceinline__ unsigned int mulhi32(unsigned int a, unsigned int b)
{
    return (unsigned int)(((unsigned long long)a * b) >> 32);
}

// Philox4x32-10 (Random123 philox.h): ten rounds of
//   (hi0, lo0) = M0 x0,  (hi1, lo1) = M1 x2                    32 x 32 -> 64-bit products
//   x = (hi1 ^ x1 ^ k0,  lo1,  hi0 ^ x3 ^ k1,  lo0)
// with the key bumped by (W0, W1) between rounds (mod 2^32).
__device__ __forceinline__ void philox4x32_10(unsigned int c0, unsigned int c1, unsigned int c2,
                                              unsigned int c3, unsigned int k0, unsigned int k1,
                                              unsigned int* w)
{
    unsigned int x0 = c0, x1 = c1, x2 = c2, x3 = c3;
    for (int round = 0; round < 10; ++round) {
        if (round > 0) {
            k0 += PHILOX_W0;
            k1 += PHILOX_W1;
        }
        unsigned int hi0 = mulhi32(PHILOX_M0, x0), lo0 = PHILOX_M0 * x0;
        unsigned int hi1 = mulhi32(PHILOX_M1, x2), lo1 = PHILOX_M1 * x2;
        x0 = hi1 ^ x1 ^ k0;
        x1 = lo1;
        x2 = hi0 ^ x3 ^ k1;
        x3 = lo0;
    }
    w[0] = x0;
    w[1] = x1;
    w[2] = x2;
    w[3] = x3;
}

// The 4 words of block b of the stream keyed by seed (layout at the top of this file).
__device__ __forceinline__ void philox_block(unsigned long long seed, unsigned long long b,
                                             unsigned int* w)
{
    philox4x32_10((unsigned int)b, (unsigned int)(b >> 32), 0u, 0u,
                  (unsigned int)seed, (unsigned int)(seed >> 32), w);
}

// Uniforms on a grid of spacing 2^-24 (float) or 2^-53 (double); exact conversions.
//   u24(w)     = (w >> 8) 2^-24                                 in [0, 1)
//   u53(hi, lo) = (((hi << 32) | lo) >> 11) 2^-53               in [0, 1)
__device__ __forceinline__ scalar_t philox_u24(unsigned int w)
{
    return (scalar_t)(w >> 8) * (scalar_t)PHILOX_2POW_M24;
}

__device__ __forceinline__ scalar_t philox_u53(unsigned int hi, unsigned int lo)
{
    unsigned long long bits = ((unsigned long long)hi << 32) | lo;
    return (scalar_t)(bits >> 11) * (scalar_t)PHILOX_2POW_M53;
}

// Uniform [0, 1), one thread per Philox block:
//   float:  out[4j + k] = u24(w_k)                      k = 0..3
//   double: out[2j + k] = u53(w_2k, w_2k+1)             k = 0..1
// with w = philox(counter_(offset + j), key(seed)); ceil(n / 4) or ceil(n / 2) blocks.
extern "C" __global__ void philox_uniform(unsigned long long seed, unsigned long long offset,
                                          scalar_t* out, long long n)
{
#if SCALAR_IS_DOUBLE
    const long long per_block = 2;
#else
    const long long per_block = 4;
#endif
    long long blocks = (n + per_block - 1) / per_block;
    for (long long j = (long long)blockIdx.x * blockDim.x + threadIdx.x; j < blocks;
         j += (long long)blockDim.x * gridDim.x) {
        unsigned int w[4];
        philox_block(seed, offset + (unsigned long long)j, w);
        scalar_t u[4];
#if SCALAR_IS_DOUBLE
        u[0] = philox_u53(w[0], w[1]);
        u[1] = philox_u53(w[2], w[3]);
#else
        u[0] = philox_u24(w[0]);
        u[1] = philox_u24(w[1]);
        u[2] = philox_u24(w[2]);
        u[3] = philox_u24(w[3]);
#endif
        long long first = j * per_block;
        for (long long k = 0; k < per_block && first + k < n; ++k)
            out[first + k] = u[k];
    }
}

// Standard normals by Box-Muller, one thread per Philox block, math in scalar_t:
//   u1 = (m + 1) 2^-p in (0, 1] (log(u1) finite),  u2 = m' 2^-p in [0, 1)
//   r = sqrt(-2 log u1),  out = (r cos(2 pi u2), r sin(2 pi u2))
//   float (p = 24):  pairs (u1, u2) = (u24'(w0), u24(w1)) -> out[4j], out[4j+1]
//                                     (u24'(w2), u24(w3)) -> out[4j+2], out[4j+3]
//   double (p = 53): (u1, u2) = (u53'(w0, w1), u53(w2, w3))  -> out[2j], out[2j+1]
// where ' marks the +1; ceil(n / 4) or ceil(n / 2) blocks.
extern "C" __global__ void philox_normal(unsigned long long seed, unsigned long long offset,
                                         scalar_t* out, long long n)
{
#if SCALAR_IS_DOUBLE
    const long long per_block = 2;
#else
    const long long per_block = 4;
#endif
    long long blocks = (n + per_block - 1) / per_block;
    for (long long j = (long long)blockIdx.x * blockDim.x + threadIdx.x; j < blocks;
         j += (long long)blockDim.x * gridDim.x) {
        unsigned int w[4];
        philox_block(seed, offset + (unsigned long long)j, w);
        scalar_t z[4];
#if SCALAR_IS_DOUBLE
        unsigned long long bits1 = ((unsigned long long)w[0] << 32) | w[1];
        scalar_t u1 = (scalar_t)((bits1 >> 11) + 1) * (scalar_t)PHILOX_2POW_M53;
        scalar_t u2 = philox_u53(w[2], w[3]);
        scalar_t r = sqrt((scalar_t)-2 * log(u1));
        z[0] = r * cos((scalar_t)PHILOX_TWO_PI * u2);
        z[1] = r * sin((scalar_t)PHILOX_TWO_PI * u2);
#else
        for (int pair = 0; pair < 2; ++pair) {
            scalar_t u1 = (scalar_t)((w[2 * pair] >> 8) + 1) * (scalar_t)PHILOX_2POW_M24;
            scalar_t u2 = philox_u24(w[2 * pair + 1]);
            scalar_t r = sqrt((scalar_t)-2 * log(u1));
            z[2 * pair] = r * cos((scalar_t)PHILOX_TWO_PI * u2);
            z[2 * pair + 1] = r * sin((scalar_t)PHILOX_TWO_PI * u2);
        }
#endif
        long long first = j * per_block;
        for (long long k = 0; k < per_block && first + k < n; ++k)
            out[first + k] = z[k];
    }
}
