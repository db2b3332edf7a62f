/* The TFT's fused CPU kernels. For RealVariableSelection (see real_selection.py): inference
 * (vsn_forward), the per-variable stage in training (pv_forward, pv_backward), dropout (dropout_apply)
 * and every GRN's gate, add & norm in training (gate_forward, gate_backward);
 * in inference also the LSTM (lstm_forward, see fused_lstm.py), the temporal block after it
 * (temporal_forward, see fused_temporal.py) and the attention (attention_forward, see fused_attention.py).
 *
 * Inference, one pass per row: the flat GRN gives the selection weights (softmax over V), then each
 * variable's GRN, its layer norm and the weighted sum are computed in registers, so none of
 * the V x N x 2d activations the tensor path materialises ever reach memory. The weights it
 * receives are the folded ones of the tensor path (rank-1 first layers, second layer folded
 * into the gate), so both compute the same function; a test compares them.
 *
 * Built at first use with the system C compiler (native.py: -O3 -march=native, fast-math's
 * reassociation and reciprocals but not -ffast-math itself, -fopenmp) and loaded with ctypes.
 */
#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <stdlib.h>
#if defined(__SSE__)
#include <immintrin.h>
#endif

typedef struct {
    const float *x;     /* N x V raw (scaled) inputs */
    const float *ctx;   /* B x d context term of the flat GRN, or NULL */
    long n;             /* rows */
    long steps;         /* rows per context row */
    int nv, d, e;       /* variables, hidden size, per-variable width */
    const float *fa;    /* V x d   flat first layer folded onto the scalars */
    const float *fc;    /* d       its bias */
    const float *fw;    /* d x 2V  flat second layer folded into its gate */
    const float *fb;    /* 2V */
    const float *sa;    /* V x V   flat skip folded onto the scalars */
    const float *sc;    /* V */
    const float *flw;   /* V       flat layer norm */
    const float *flb;   /* V */
    float feps;
    const float *a1;    /* V x e   per-variable first layer, rank-1 */
    const float *c1;    /* V x e */
    const float *wg;    /* V x e x 2d  per-variable second layer folded into the gate */
    const float *bg;    /* V x 2d */
    const float *as;    /* V x d   per-variable residual, rank-1 */
    const float *cs;    /* V x d */
    float eps;          /* per-variable layer norm epsilon (affine applied by the caller) */
    int *lookup;        /* V, or NULL: -1, or k if variable v takes few values (filled by vsn_lookup) */
    int *index;         /* K x N: row r's value of looked-up variable k, as a row of its table */
    float *table;       /* K x table_rows x d: normalised GRN output of each distinct value */
    long table_rows;    /* most distinct values a variable may take to be looked up */
    float *sel;         /* N x d out: sum_v w_v * normalised GRN_v (before the norm's affine) */
    float *wout;        /* N x V out: selection weights */
} vsn_args;

/* Rows per block = lanes of one vector, sized to one register of the machine: 16 floats with
 * AVX-512, 8 with AVX, else 4 (SSE, NEON). A vector of two registers (16 lanes on AVX2) leaves
 * half the registers for the tiled products, which then spill: 3x slower, measured. */
#ifndef R
#if defined(__AVX512F__)
#define R 16
#elif defined(__AVX__)
#define R 8
#else
#define R 4
#endif
#define R_IS_ONE_REGISTER 1
#endif

typedef float vf __attribute__((vector_size(4 * R), aligned(4 * R)));
typedef int vi __attribute__((vector_size(4 * R), aligned(4 * R)));

static inline vf splat(float v) { return (vf){0} + v; }

/* rows of the block starting at row r0 of n: R, fewer in the last block, 0 past the end */
static inline int block_rows(long n, long r0) { return r0 >= n ? 0 : n - r0 < R ? (int)(n - r0) : R; }

/* lane-wise m ? a : b, for a mask from a vector comparison */
static inline vf vsel(vi m, vf a, vf b) {
    vi ai, bi, ri;
    vf out;
    __builtin_memcpy(&ai, &a, sizeof a);
    __builtin_memcpy(&bi, &b, sizeof b);
    ri = (m & ai) | (~m & bi);
    __builtin_memcpy(&out, &ri, sizeof out);
    return out;
}

/* min, max and 1/v: one instruction each where the vector is one x86 register (the reciprocal an
 * estimate refined by a Newton step, within 2 ulp of the quotient), else portable lane-wise code */
#if R == 16 && defined(__AVX512F__)
static inline vf vmin(vf a, vf b) { return (vf)_mm512_min_ps((__m512)a, (__m512)b); }
static inline vf vmax(vf a, vf b) { return (vf)_mm512_max_ps((__m512)a, (__m512)b); }
static inline vf vrcp_estimate(vf v) { return (vf)_mm512_rcp14_ps((__m512)v); }
#elif R == 8 && defined(__AVX__)
static inline vf vmin(vf a, vf b) { return (vf)_mm256_min_ps((__m256)a, (__m256)b); }
static inline vf vmax(vf a, vf b) { return (vf)_mm256_max_ps((__m256)a, (__m256)b); }
static inline vf vrcp_estimate(vf v) { return (vf)_mm256_rcp_ps((__m256)v); }
#elif R == 4 && defined(__SSE__)
static inline vf vmin(vf a, vf b) { return (vf)_mm_min_ps((__m128)a, (__m128)b); }
static inline vf vmax(vf a, vf b) { return (vf)_mm_max_ps((__m128)a, (__m128)b); }
static inline vf vrcp_estimate(vf v) { return (vf)_mm_rcp_ps((__m128)v); }
#else
static inline vf vmin(vf a, vf b) { return vsel(a < b, a, b); }
static inline vf vmax(vf a, vf b) { return vsel(a > b, a, b); }
static inline vf vrcp_estimate(vf v) { return 1.0f / v; }
#endif

static inline vf vrcp(vf v) {
    const vf r = vrcp_estimate(v);
    return r * (2.0f - v * r);
}

/* keep a vector in a register: without this GCC re-reads it from memory for every multiply-add
 * that uses it, and the loads, not the arithmetic, set the pace */
#if defined(__x86_64__) && defined(R_IS_ONE_REGISTER)
#define IN_REGISTER(v) __asm__("" : "+v"(v))
#elif defined(__aarch64__) && defined(R_IS_ONE_REGISTER)
#define IN_REGISTER(v) __asm__("" : "+w"(v))
#else
#define IN_REGISTER(v) (void)0
#endif

static inline vf vrsqrt(vf v) {
    vf out = v;
    for (int r = 0; r < R; ++r) out[r] = 1.0f / sqrtf(v[r]);
    return out;
}

/* exp on every lane: Cephes' expf (range reduction to [-ln2/2, ln2/2] in two steps, degree-6
 * polynomial, about 1 ulp), portable through GCC vector extensions to SSE, AVX2 or AVX-512. The
 * nearest integer n of x / ln 2 comes from adding 1.5 * 2^23 + 127: the sum's low mantissa bits
 * are then n + 127, the biased exponent of 2^n, which a shift puts in place. */
static inline vf vexp(vf x) {
    const float shifter = 12582912.0f + 127.0f;
    /* the bounds first: x86's min and max return their second operand when either is NaN, so a
     * NaN input stays NaN (in every kernel, as in PyTorch) instead of becoming exp(88) */
    x = vmax(splat(-87.3365478515625f), vmin(splat(88.3762626647949f), x));
    const vf biased = x * 1.44269504088896341f + shifter;
    const vf t = biased - shifter;
    x = x - t * 0.693359375f + t * 2.12194440e-4f;
    vf y = splat(1.9875691500e-4f);
    y = y * x + 1.3981999507e-3f;
    y = y * x + 8.3334519073e-3f;
    y = y * x + 4.1665795894e-2f;
    y = y * x + 1.6666665459e-1f;
    y = y * x + 5.0000001201e-1f;
    y = y * (x * x) + x + 1.0f;
    vi bits;
    __builtin_memcpy(&bits, &biased, sizeof bits);
    bits <<= 23;
    vf scale;
    __builtin_memcpy(&scale, &bits, sizeof scale);
    return y * scale;
}

/* out[c] = bias[c] (0 without bias) + sum_k in[k] * w[k * ldw + c] for c < nc: a small matrix product
 * with the block's rows in the lanes. CT output columns at a time, so that CT independent
 * accumulators stay in registers and hide the latency of the multiply-adds. */
#define CT 8
static __attribute__((noinline)) void vgemm(vf *restrict out, const vf *restrict in, int nk, const float *restrict w, long ldw, int nc,
                         const float *restrict bias) {
    int c = 0;
    for (; c + CT <= nc; c += CT) {
        vf acc[CT];
        for (int t = 0; t < CT; ++t) acc[t] = splat(bias ? bias[c + t] : 0.0f);
        for (int k = 0; k < nk; ++k) {
            vf xk = in[k];
            IN_REGISTER(xk);
            const float *restrict wk = w + k * ldw + c;
            for (int t = 0; t < CT; ++t) acc[t] += xk * wk[t];
        }
        for (int t = 0; t < CT; ++t) out[c + t] = acc[t];
    }
    for (; c < nc; ++c) {
        vf acc = splat(bias ? bias[c] : 0.0f);
        for (int k = 0; k < nk; ++k) acc += in[k] * w[k * ldw + c];
        out[c] = acc;
    }
}

static inline vf velu(vf v) { return vsel(v > 0.0f, v, vexp(v) - 1.0f); }
static inline vf vsigmoid(vf v) { return vrcp(1.0f + vexp(-v)); }

/* out[c] = column c of rows r0 .. r0 + nr of the matrix m (cols wide, rows ld floats apart), as
 * vectors over the rows; lanes past nr are zero. One pass over the rows, scattering floats. */
static void load_rows(vf *restrict out, const float *restrict m, long r0, int nr, int cols, long ld) {
    float *lanes = (float *)out;
    __builtin_memset(out, 0, (size_t)cols * sizeof(vf));
    for (int r = 0; r < nr; ++r)
        for (int c = 0; c < cols; ++c) lanes[c * R + r] = m[(r0 + r) * ld + c];
}

/* the same for a row-major matrix whose rows are contiguous */
static void load_block(vf *restrict out, const float *restrict m, long r0, int nr, int cols) {
    load_rows(out, m, r0, nr, cols, cols);
}

/* h[j] += ctx[row / steps][j] for the block's rows: each row adds its own context row (B x d) */
static void add_context(vf *restrict h, const float *restrict ctx, long r0, int nr, long steps, int d) {
    for (int r = 0; r < nr; ++r) {
        const float *cr = ctx + ((r0 + r) / steps) * d;
        for (int j = 0; j < d; ++j) h[j][r] += cr[j];
    }
}

/* Scratch for one block: every array is [feature] of vectors over the block's rows. */
typedef struct {
    vf *xb, *h, *g, *s, *w, *hv, *gate;
} block;

static size_t block_vectors(const vsn_args *a) {
    return (size_t)(a->nv + a->d + 2 * a->nv + a->nv + a->nv + a->e + 2 * a->d);
}

static void block_init(block *b, const vsn_args *a, vf *mem) {
    b->xb = mem; mem += a->nv;
    b->h = mem; mem += a->d;
    b->g = mem; mem += 2 * a->nv;
    b->s = mem; mem += a->nv;
    b->w = mem; mem += a->nv;
    b->hv = mem; mem += a->e;
    b->gate = mem;
}

/* Variable v's GRN at inputs x (one per lane) up to its layer norm: gate[0..d) holds the sum of the
 * GLU and the residual, *mean its mean over the d units; returns 1 / its standard deviation. */
static vf variable_grn(const vsn_args *restrict a, int v, vf x, vf *restrict hv, vf *restrict gate, vf *mean) {
    const int d = a->d, e = a->e;
    for (int k = 0; k < e; ++k) hv[k] = velu(x * a->a1[v * e + k] + a->c1[v * e + k]);
    const float *restrict as = a->as + (long)v * d, *restrict cs = a->cs + (long)v * d;
    vgemm(gate, hv, e, a->wg + (long)v * e * 2 * d, 2 * d, 2 * d, a->bg + (long)v * 2 * d);
    vf m = splat(0.0f), q = splat(0.0f);
    for (int j = 0; j < d; ++j) {
        gate[j] = gate[j] * vsigmoid(gate[d + j]) + cs[j] + x * as[j];
        m += gate[j];
    }
    m /= (float)d;
    for (int j = 0; j < d; ++j) q += (gate[j] - m) * (gate[j] - m);
    *mean = m;
    return vrsqrt(q / (float)d + a->eps);
}

static void one_block(const vsn_args *restrict a, const block *restrict b, long r0, int nr) {
    const int nv = a->nv, d = a->d;
    vf *restrict xb = b->xb, *restrict h = b->h, *restrict g = b->g, *restrict s = b->s, *restrict w = b->w;
    vf *restrict hv = b->hv, *restrict gate = b->gate;
    load_block(xb, a->x, r0, nr, nv);
    /* flat GRN over all variables -> selection weights */
    vgemm(h, xb, nv, a->fa, d, d, a->fc);
    if (a->ctx) add_context(h, a->ctx, r0, nr, a->steps, d);
    for (int j = 0; j < d; ++j) h[j] = velu(h[j]);
    vgemm(g, h, d, a->fw, 2 * nv, 2 * nv, a->fb);
    vgemm(s, xb, nv, a->sa, nv, nv, a->sc);
    vf m = splat(0.0f), q = splat(0.0f);
    for (int k = 0; k < nv; ++k) {
        s[k] += g[k] * vsigmoid(g[nv + k]);
        m += s[k];
    }
    m /= (float)nv;
    for (int k = 0; k < nv; ++k) q += (s[k] - m) * (s[k] - m);
    vf inv = vrsqrt(q / (float)nv + a->feps);
    vf top = splat(-INFINITY), total = splat(0.0f);
    for (int k = 0; k < nv; ++k) {
        s[k] = (s[k] - m) * inv * a->flw[k] + a->flb[k];
        top = vmax(s[k], top);
    }
    for (int k = 0; k < nv; ++k) { w[k] = vexp(s[k] - top); total += w[k]; }
    for (int k = 0; k < nv; ++k) w[k] /= total;
    /* each variable's GRN, normalised, weighted and summed (the sum lives in h) */
    for (int j = 0; j < d; ++j) h[j] = splat(0.0f);
    for (int v = 0; v < nv; ++v) {
        if (a->lookup && a->lookup[v] >= 0) continue; /* added from its table with the output below */
        vf mean;
        const vf scale = w[v] * variable_grn(a, v, xb[v], hv, gate, &mean);
        for (int j = 0; j < d; ++j) h[j] += scale * (gate[j] - mean);
    }
    for (int r = 0; r < nr; ++r) {
        float *out = a->sel + (r0 + r) * d;
        float *wo = a->wout + (r0 + r) * nv;
        for (int j = 0; j < d; ++j) out[j] = h[j][r];
        for (int k = 0; k < nv; ++k) wo[k] = w[k][r];
        for (int v = 0; a->lookup && v < nv; ++v) {
            const long k = a->lookup[v];
            if (k < 0) continue;
            const float wv = w[v][r];
            const float *restrict row = a->table + (k * a->table_rows + a->index[k * a->n + r0 + r]) * d;
            for (int j = 0; j < d; ++j) out[j] += wv * row[j];
        }
    }
}

/* Column v's distinct values (at most `most`) into `values` and each row's position among them into
 * `index`; -1 as soon as there are more. An open-addressing hash on the float's bits, 4 slots per
 * value allowed, so a row costs a multiply and usually one probe. */
static int distinct_values(const float *x, long n, int nv, int v, int most, int *index, float *values) {
    enum { SLOTS = 1024 };
    unsigned keys[SLOTS];
    int ids[SLOTS];
    for (int i = 0; i < SLOTS; ++i) ids[i] = -1;
    int count = 0;
    for (long r = 0; r < n; ++r) {
        unsigned bits;
        __builtin_memcpy(&bits, x + r * nv + v, sizeof bits);
        unsigned slot = (bits * 2654435761u) >> 22;
        while (ids[slot] >= 0 && keys[slot] != bits) slot = (slot + 1) & (SLOTS - 1);
        if (ids[slot] < 0) {
            if (count == most) return -1;
            keys[slot] = bits;
            ids[slot] = count;
            values[count++] = x[r * nv + v];
        }
        index[r] = ids[slot];
    }
    return count;
}

/* Each variable's GRN, normalised (no affine), at the given input values: table rows of d. The
 * values go through variable_grn a register of lanes at a time, as rows do in vsn_forward. */
static void tabulate(const vsn_args *a, int v, const float *values, int count, float *table) {
    const int d = a->d;
    vf hv[a->e], gate[2 * d];
    for (int i0 = 0; i0 < count; i0 += R) {
        const int nr = block_rows(count, i0);
        vf x = splat(0.0f), mean;
        for (int r = 0; r < nr; ++r) x[r] = values[i0 + r];
        const vf inv = variable_grn(a, v, x, hv, gate, &mean);
        for (int r = 0; r < nr; ++r)
            for (int j = 0; j < d; ++j) table[(long)(i0 + r) * d + j] = (gate[j][r] - mean[r]) * inv[r];
    }
}

/* Variables taking at most table_rows distinct values (calendar inputs, flags): each one's GRN is a
 * function of its scalar input alone, so vsn_forward looks it up per distinct value instead of
 * computing it per row. Fills lookup, index and table; returns how many variables are looked up. */
int vsn_lookup(const vsn_args *a) {
    int found = 0;
    float values[a->table_rows > 0 ? a->table_rows : 1];
    for (int v = 0; v < a->nv; ++v) {
        int *index = a->index + (long)found * a->n;
        const int count = distinct_values(a->x, a->n, a->nv, v, (int)a->table_rows, index, values);
        a->lookup[v] = count > 0 ? found : -1;
        if (count > 0) tabulate(a, v, values, count, a->table + (long)found++ * a->table_rows * a->d);
    }
    return found;
}

/* Returns 0 on success, non-zero if scratch memory could not be had. Blocks of rows are shared
 * among `threads` OpenMP threads: loaded next to PyTorch, the kernel binds to the libgomp PyTorch
 * already loaded, so it runs on the same thread pool as every other operator of the forward. */
int vsn_forward(const vsn_args *a, int threads) {
    const long blocks = (a->n + R - 1) / R;
    int failed = 0;
#pragma omp parallel num_threads(threads > 0 ? threads : 1) reduction(| : failed)
    {
        vf *scratch = aligned_alloc(sizeof(vf), block_vectors(a) * sizeof(vf));
        if (!scratch) {
            failed = 1;
        } else {
            block b;
            block_init(&b, a, scratch);
#pragma omp for schedule(static)
            for (long i = 0; i < blocks; ++i) {
                const long r0 = i * R;
                one_block(a, &b, r0, block_rows(a->n, r0));
            }
            free(scratch);
        }
    }
    return failed;
}

/* ---------------------------------------------------------------------------------------------
 * Training: the per-variable stage alone (the selection weights come from PyTorch's autograd),
 * forward and backward. Nothing wide is stored between them: the backward recomputes each
 * variable's GRN from the scalar inputs (activation checkpointing, fused). Dropout on each GRN's
 * hidden layer draws its mask from a counter-based hash of (seed, row, variable, unit), so the
 * backward regenerates exactly the forward's mask.
 * ------------------------------------------------------------------------------------------- */

typedef struct {
    const float *x;     /* N x V inputs */
    const float *w;     /* N x V selection weights */
    const float *g;     /* N x d upstream gradient of the output (backward only) */
    long n;
    int nv, d, e;
    const float *a1, *c1;   /* V x e       first layer, rank-1 */
    const float *w2, *b2;   /* V x e x e, V x e  second layer */
    const float *wg, *bg;   /* V x e x 2d, V x 2d gate */
    const float *as, *cs;   /* V x d       residual, rank-1 */
    float eps, p;           /* layer-norm epsilon, dropout probability */
    unsigned seed;
    float *sel;   /* forward out, N x d: sum_v w_v * normalised GRN_v (before the norm's affine) */
    float *dw;    /* backward out, N x V */
    float *grads; /* backward out, accumulated: a1, c1, w2, b2, wg, bg, as, cs (their shapes, in order) */
} pv_args;

typedef unsigned vu __attribute__((vector_size(4 * R), aligned(4 * R)));

/* keep-and-rescale factor of dropout for lanes with counters `idx` (murmur3's finaliser) */
static inline vf dropout_scale(vu idx, unsigned seed, float p) {
    vu h = idx * 0x9E3779B1u + seed;
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    h ^= h >> 16;
    vi keep = __builtin_convertvector(h >> 8, vi) >= (int)(p * 16777216.0f);
    return vsel(keep, splat(1.0f / (1.0f - p)), splat(0.0f));
}

/* Per-variable state of one block, recomputed in forward and backward. */
typedef struct {
    vf *pre, *h1, *h2, *keep, *lin, *sg, *z; /* e, e, e, e, d, d, d (z holds the normalised output) */
    vf rs;
} pv_state;

static size_t pv_vectors(const pv_args *a) { return (size_t)(4 * a->e + 3 * a->d); }

static void pv_init(pv_state *s, const pv_args *a, vf *mem) {
    s->pre = mem; mem += a->e;
    s->h1 = mem; mem += a->e;
    s->h2 = mem; mem += a->e;
    s->keep = mem; mem += a->e;
    s->lin = mem; mem += a->d;
    s->sg = mem; mem += a->d;
    s->z = mem;
}

static void pv_forward_var(const pv_args *restrict a, pv_state *restrict s, int v, vf x, long r0) {
    const int d = a->d, e = a->e;
    const float *a1 = a->a1 + (long)v * e, *c1 = a->c1 + (long)v * e;
    const float *w2 = a->w2 + (long)v * e * e, *b2 = a->b2 + (long)v * e;
    const float *wg = a->wg + (long)v * e * 2 * d, *bg = a->bg + (long)v * 2 * d;
    const float *as = a->as + (long)v * d, *cs = a->cs + (long)v * d;
    for (int k = 0; k < e; ++k) {
        s->pre[k] = x * a1[k] + c1[k];
        s->h1[k] = velu(s->pre[k]);
    }
    vu rows;
    for (int r = 0; r < R; ++r) rows[r] = (unsigned)(r0 + r);
    vgemm(s->h2, s->h1, e, w2, e, e, b2);
    for (int k = 0; k < e; ++k) {
        s->keep[k] = a->p > 0.0f ? dropout_scale((rows * (unsigned)a->nv + (unsigned)v) * (unsigned)e + (unsigned)k,
                                                 a->seed, a->p)
                                 : splat(1.0f);
        s->h2[k] *= s->keep[k];
    }
    vgemm(s->lin, s->h2, e, wg, 2 * d, 2 * d, bg); /* lin (d) then the gate's input, into sg (d) */
    vf m = splat(0.0f), q = splat(0.0f);
    for (int j = 0; j < d; ++j) {
        s->sg[j] = vsigmoid(s->sg[j]);
        s->z[j] = s->lin[j] * s->sg[j] + cs[j] + x * as[j];
        m += s->z[j];
    }
    m /= (float)d;
    for (int j = 0; j < d; ++j) q += (s->z[j] - m) * (s->z[j] - m);
    s->rs = vrsqrt(q / (float)d + a->eps);
    for (int j = 0; j < d; ++j) s->z[j] = (s->z[j] - m) * s->rs;
}

int pv_forward(const pv_args *a, int threads) {
    const long blocks = (a->n + R - 1) / R;
    const int d = a->d, nv = a->nv;
    int failed = 0;
#pragma omp parallel num_threads(threads > 0 ? threads : 1) reduction(| : failed)
    {
        vf *mem = aligned_alloc(sizeof(vf), (pv_vectors(a) + d + 2 * nv) * sizeof(vf));
        if (!mem) {
            failed = 1;
        } else {
            pv_state s;
            pv_init(&s, a, mem);
            vf *acc = mem + pv_vectors(a), *xb = acc + d, *wb = xb + nv;
#pragma omp for schedule(static)
            for (long i = 0; i < blocks; ++i) {
                const long r0 = i * R;
                const int nr = block_rows(a->n, r0);
                for (int j = 0; j < d; ++j) acc[j] = splat(0.0f);
                load_block(xb, a->x, r0, nr, nv);
                load_block(wb, a->w, r0, nr, nv);
                for (int v = 0; v < nv; ++v) {
                    pv_forward_var(a, &s, v, xb[v], r0);
                    for (int j = 0; j < d; ++j) acc[j] += wb[v] * s.z[j];
                }
                for (int r = 0; r < nr; ++r)
                    for (int j = 0; j < d; ++j) a->sel[(r0 + r) * d + j] = acc[j][r];
            }
            free(mem);
        }
    }
    return failed;
}

static inline float lane_sum(vf v) {
    float t = 0.0f;
    for (int r = 0; r < R; ++r) t += v[r];
    return t;
}

#define S 8 /* blocks whose gradient terms are summed before an accumulator is touched */

/* acc[c] += sum_q st[q].h2[k] * st[q].lin[c] for c < nc (lin and sg are one array of 2d in the
 * state), CT columns at a time in registers */
static __attribute__((noinline)) void outer_add(vf *restrict acc, const pv_state *restrict st, int k, int nc) {
    int c = 0;
    for (; c + CT <= nc; c += CT) {
        vf sum[CT];
        for (int t = 0; t < CT; ++t) sum[t] = splat(0.0f);
        for (int q = 0; q < S; ++q) {
            vf hk = st[q].h2[k];
            IN_REGISTER(hk);
            const vf *restrict dq = st[q].lin + c;
            for (int t = 0; t < CT; ++t) sum[t] += hk * dq[t];
        }
        for (int t = 0; t < CT; ++t) acc[c + t] += sum[t];
    }
    for (; c < nc; ++c) {
        vf sum = splat(0.0f);
        for (int q = 0; q < S; ++q) sum += st[q].h2[k] * st[q].lin[c];
        acc[c] += sum;
    }
}

int pv_backward(const pv_args *a, int threads) {
    const long blocks = (a->n + R - 1) / R, supers = (blocks + S - 1) / S;
    const int d = a->d, nv = a->nv, e = a->e;
    /* per-variable gradient sizes and offsets into a->grads */
    const long sizes[8] = {e, e, (long)e * e, e, (long)e * 2 * d, 2L * d, d, d};
    long offs[8], per_var = 0;
    for (int t = 0; t < 8; ++t) { offs[t] = per_var; per_var += sizes[t]; }
    int failed = 0;
    threads = threads > 0 ? threads : 1;
    /* each thread's partial sums, added in thread order afterwards so results are reproducible */
    float *parts = calloc((size_t)threads * (size_t)(per_var * nv), sizeof(float));
    /* the upstream gradient, the inputs and the selection weights transposed once into
     * [block][column] vectors over the block's rows (S blocks of zero padding at the end), instead
     * of gathering them with strided loads for every variable */
    const long padded = supers * S;
    vf *gt = aligned_alloc(sizeof(vf), (size_t)padded * (size_t)(d + 2 * nv) * sizeof(vf));
    /* each variable's gate weights transposed (2d x e), for d h2 = D Wg^T */
    float *wgt_all = malloc((size_t)nv * 2 * (size_t)d * (size_t)e * sizeof(float));
    if (!parts || !gt || !wgt_all) {
        free(parts);
        free(gt);
        free(wgt_all);
        return 1;
    }
    for (int v = 0; v < nv; ++v)
        for (int kk = 0; kk < e; ++kk)
            for (int c = 0; c < 2 * d; ++c)
                wgt_all[((long)v * 2 * d + c) * e + kk] = a->wg[((long)v * e + kk) * 2 * d + c];
    vf *xt = gt + padded * d, *wt = xt + padded * nv;
#pragma omp parallel for schedule(static) num_threads(threads)
    for (long i = 0; i < padded; ++i) {
        const long r0 = i * R;
        const int nr = block_rows(a->n, r0);
        load_block(gt + i * d, a->g, r0, nr, d);
        load_block(xt + i * nv, a->x, r0, nr, nv);
        load_block(wt + i * nv, a->w, r0, nr, nv);
    }
#pragma omp parallel num_threads(threads) reduction(| : failed)
    {
#ifdef _OPENMP
        float *mine = parts + (size_t)omp_get_thread_num() * (size_t)(per_var * nv);
#else
        float *mine = parts;
#endif
        /* S block states, dh2 (S x e) and lane-wise accumulators */
        const size_t state = pv_vectors(a);
        vf *mem = aligned_alloc(sizeof(vf), (S * state + S * e + per_var) * sizeof(vf));
        if (!mem) {
            failed = 1;
        } else {
            pv_state st[S];
            for (int q = 0; q < S; ++q) pv_init(&st[q], a, mem + q * state);
            vf xs[S], ws[S];
            vf *dh2 = mem + S * state, *acc = dh2 + S * e;
            vf *da1 = acc + offs[0], *dc1 = acc + offs[1], *dw2 = acc + offs[2], *db2 = acc + offs[3];
            vf *dwg = acc + offs[4], *dbg = acc + offs[5], *das = acc + offs[6], *dcs = acc + offs[7];
            for (int v = 0; v < nv; ++v) {
                const float *w2 = a->w2 + (long)v * e * e, *wgt = wgt_all + (long)v * 2 * d * e;
                for (long t = 0; t < per_var; ++t) acc[t] = splat(0.0f);
#pragma omp for schedule(static) nowait
                for (long i = 0; i < supers; ++i) {
                    for (int q = 0; q < S; ++q) {
                        /* recompute the block's GRN; a block past the end has w = g = 0 and adds 0 */
                        pv_state *sq = &st[q];
                        const long r0 = (i * S + q) * R;
                        const int nr = block_rows(a->n, r0);
                        const long blk = i * S + q;
                        const vf *restrict gb = gt + blk * d;
                        xs[q] = xt[blk * nv + v];
                        ws[q] = wt[blk * nv + v];
                        pv_forward_var(a, sq, v, xs[q], r0);
                        /* d w_v = g . zhat_v; then the layer norm's backward of d zhat_v = w_v g */
                        vf dwv = splat(0.0f), mg = splat(0.0f);
                        for (int j = 0; j < d; ++j) {
                            dwv += gb[j] * sq->z[j];
                            mg += gb[j];
                        }
                        for (int r = 0; r < nr; ++r) a->dw[(r0 + r) * nv + v] = dwv[r];
                        mg /= (float)d;
                        const vf mgz = dwv / (float)d, k = ws[q] * sq->rs;
                        for (int j = 0; j < d; ++j) {
                            const vf dz = k * (gb[j] - mg - sq->z[j] * mgz);
                            /* z = lin * sg + cs + x as: lin becomes d lin, sg becomes d gate, z dz */
                            const vf dgt = dz * sq->lin[j] * sq->sg[j] * (1.0f - sq->sg[j]);
                            sq->lin[j] = dz * sq->sg[j];
                            sq->sg[j] = dgt;
                            sq->z[j] = dz;
                        }
                    }
                    for (int j = 0; j < d; ++j) {
                        vf sdz = splat(0.0f), sdzx = splat(0.0f);
                        for (int q = 0; q < S; ++q) {
                            sdz += st[q].z[j];
                            sdzx += st[q].z[j] * xs[q];
                        }
                        dcs[j] += sdz;
                        das[j] += sdzx;
                    }
                    /* the gate's input gradient D = [d lin, d gate] (2d, contiguous in the state):
                     * d bg += sum_q D_q, d Wg += sum_q h2_q (x) D_q, d h2_q = D_q Wg^T */
                    for (int c = 0; c < 2 * d; ++c) {
                        vf sd = splat(0.0f);
                        for (int q = 0; q < S; ++q) sd += st[q].lin[c];
                        dbg[c] += sd;
                    }
                    for (int kk = 0; kk < e; ++kk) outer_add(dwg + kk * 2 * d, st, kk, 2 * d);
                    for (int q = 0; q < S; ++q) vgemm(dh2 + q * e, st[q].lin, 2 * d, wgt, e, e, NULL);
                    for (int q = 0; q < S; ++q) {
                        vf *g2 = dh2 + q * e;
                        /* h2 = (h1 W2 + b2) * keep */
                        for (int kk = 0; kk < e; ++kk) {
                            g2[kk] *= st[q].keep[kk];
                            db2[kk] += g2[kk];
                            for (int ii = 0; ii < e; ++ii) dw2[ii * e + kk] += st[q].h1[ii] * g2[kk];
                        }
                        for (int ii = 0; ii < e; ++ii) {
                            vf dh1 = splat(0.0f);
                            for (int kk = 0; kk < e; ++kk) dh1 += w2[ii * e + kk] * g2[kk];
                            /* ELU' = 1 above zero, exp(pre) = h1 + 1 below */
                            const vf dpre = dh1 * vsel(st[q].pre[ii] > 0.0f, splat(1.0f), st[q].h1[ii] + 1.0f);
                            da1[ii] += dpre * xs[q];
                            dc1[ii] += dpre;
                        }
                    }
                }
                for (int t = 0; t < 8; ++t)
                    for (long q = 0; q < sizes[t]; ++q) mine[v * per_var + offs[t] + q] += lane_sum(acc[offs[t] + q]);
            }
        }
        free(mem);
    }
    for (int th = 0; th < threads; ++th) {
        const float *mine = parts + (size_t)th * (size_t)(per_var * nv);
        for (int v = 0; v < nv; ++v)
            for (int t = 0; t < 8; ++t) {
                float *dst = a->grads + (long)nv * offs[t] + (long)v * sizes[t];
                for (long q = 0; q < sizes[t]; ++q) dst[q] += mine[v * per_var + offs[t] + q];
            }
    }
    free(parts);
    free(gt);
    free(wgt_all);
    return failed;
}


/* ---------------------------------------------------------------------------------------------
 * Inference: the temporal block after the LSTMs (fused_temporal.py), one pass per block of rows:
 *   temporal = LayerNorm(skip + GLU(y))                                   post-LSTM gate, add & norm
 *   enriched = LayerNorm(temporal + GLU(ELU(temporal W1 + b1 + ctx)))      static enrichment GRN,
 * its second layer folded into the gate (no dropout between them in evaluation).
 * ------------------------------------------------------------------------------------------- */

typedef struct {
    const float *y;          /* N x d LSTM outputs */
    const float *skip;       /* N x d selected inputs: the post-LSTM gate's residual */
    const float *ctx;        /* B x d enrichment context term; row i belongs to context row i / steps */
    long n, steps;
    int d;
    const float *pw, *pb;    /* d x 2d, 2d   post-LSTM GLU (weight transposed) */
    const float *pnw, *pnb;  /* d            its layer norm */
    const float *w1, *b1;    /* d x d, d     enrichment first layer (transposed) */
    const float *fw, *fb;    /* d x 2d, 2d   enrichment second layer folded into its gate (transposed) */
    const float *enw, *enb;  /* d            enrichment layer norm */
    float peps, eeps;
    float *temporal, *enriched; /* N x d out */
} temporal_args;

/* inverse of load_rows: rows r0 .. r0 + nr of m (cols wide, rows ld floats apart) from column vectors */
static void store_rows(float *restrict m, const vf *restrict in, long r0, int nr, int cols, long ld) {
    const float *lanes = (const float *)in;
    for (int r = 0; r < nr; ++r)
        for (int c = 0; c < cols; ++c) m[(r0 + r) * ld + c] = lanes[c * R + r];
}

static void store_block(float *restrict m, const vf *restrict in, long r0, int nr, int cols) {
    store_rows(m, in, r0, nr, cols, cols);
}

/* out = LayerNorm(skip + gate[:d] * sigmoid(gate[d:])) with its affine weight and bias */
static void glu_add_norm(vf *restrict out, const vf *restrict gate, const vf *restrict skip, int d,
                         const float *restrict lw, const float *restrict lb, float eps) {
    vf m = splat(0.0f), q = splat(0.0f);
    for (int j = 0; j < d; ++j) {
        out[j] = skip[j] + gate[j] * vsigmoid(gate[d + j]);
        m += out[j];
    }
    m /= (float)d;
    for (int j = 0; j < d; ++j) q += (out[j] - m) * (out[j] - m);
    const vf inv = vrsqrt(q / (float)d + eps);
    for (int j = 0; j < d; ++j) out[j] = (out[j] - m) * inv * lw[j] + lb[j];
}

int temporal_forward(const temporal_args *a, int threads) {
    const long blocks = (a->n + R - 1) / R;
    const int d = a->d;
    int failed = 0;
#pragma omp parallel num_threads(threads > 0 ? threads : 1) reduction(| : failed)
    {
        vf *mem = aligned_alloc(sizeof(vf), (size_t)(7 * d) * sizeof(vf));
        if (!mem) {
            failed = 1;
        } else {
            vf *y = mem, *sk = y + d, *g = sk + d, *t = g + 2 * d, *h = t + d, *e = h + d;
#pragma omp for schedule(static)
            for (long i = 0; i < blocks; ++i) {
                const long r0 = i * R;
                const int nr = block_rows(a->n, r0);
                load_block(y, a->y, r0, nr, d);
                load_block(sk, a->skip, r0, nr, d);
                vgemm(g, y, d, a->pw, 2 * d, 2 * d, a->pb);
                glu_add_norm(t, g, sk, d, a->pnw, a->pnb, a->peps);
                store_block(a->temporal, t, r0, nr, d);
                vgemm(h, t, d, a->w1, d, d, a->b1);
                add_context(h, a->ctx, r0, nr, a->steps, d);
                for (int j = 0; j < d; ++j) h[j] = velu(h[j]);
                vgemm(g, h, d, a->fw, 2 * d, 2 * d, a->fb);
                glu_add_norm(e, g, t, d, a->enw, a->enb, a->eeps);
                store_block(a->enriched, e, r0, nr, d);
            }
            free(mem);
        }
    }
    return failed;
}

/* ---------------------------------------------------------------------------------------------
 * Inference: one LSTM layer (fused_lstm.py), PyTorch's gate order i, f, g, o. Each block of rows
 * runs through all steps with h and c in registers and L1 cache:
 *   a = [x_t, h] [W_ih W_hh]^T + b_ih + b_hh;  c = sig(a_f) c + sig(a_i) tanh(a_g);  h = sig(a_o) tanh(c)
 * ------------------------------------------------------------------------------------------- */

typedef struct {
    const float *x;       /* B x T x din inputs */
    const float *w_t;     /* (din + d) x 4d  [W_ih W_hh] transposed */
    const float *bias;    /* 4d  b_ih + b_hh */
    const float *h0, *c0; /* B x d */
    long b, t;
    int din, d;
    float *out;           /* B x T x d  h of every step */
    float *hn, *cn;       /* B x d  final state */
} lstm_args;

static inline vf vtanh(vf v) { return 2.0f * vsigmoid(2.0f * v) - 1.0f; }

int lstm_forward(const lstm_args *a, int threads) {
    const long blocks = (a->b + R - 1) / R, steps = a->t;
    const int d = a->d, din = a->din;
    int failed = 0;
#pragma omp parallel num_threads(threads > 0 ? threads : 1) reduction(| : failed)
    {
        vf *mem = aligned_alloc(sizeof(vf), (size_t)(din + 6 * d) * sizeof(vf));
        if (!mem) {
            failed = 1;
        } else {
            /* xh = [x_t, h] (h lives in its tail), c, the gates' pre-activations then activations g */
            vf *xh = mem, *h = xh + din, *c = h + d, *g = c + d;
#pragma omp for schedule(static)
            for (long i = 0; i < blocks; ++i) {
                const long r0 = i * R;
                const int nr = block_rows(a->b, r0);
                load_block(h, a->h0, r0, nr, d);
                load_block(c, a->c0, r0, nr, d);
                for (long s = 0; s < steps; ++s) {
                    load_rows(xh, a->x + s * din, r0, nr, din, steps * din);
                    vgemm(g, xh, din + d, a->w_t, 4 * d, 4 * d, a->bias);
                    for (int j = 0; j < d; ++j) {
                        g[j] = vsigmoid(g[j]);
                        g[d + j] = vsigmoid(g[d + j]);
                        g[2 * d + j] = vtanh(g[2 * d + j]);
                        g[3 * d + j] = vsigmoid(g[3 * d + j]);
                        c[j] = g[d + j] * c[j] + g[j] * g[2 * d + j];
                        h[j] = g[3 * d + j] * vtanh(c[j]);
                    }
                    store_rows(a->out + s * d, h, r0, nr, d, steps * d);
                }
                store_block(a->hn, h, r0, nr, d);
                store_block(a->cn, c, r0, nr, d);
            }
            free(mem);
        }
    }
    return failed;
}

/* ---------------------------------------------------------------------------------------------
 * Training: the gate, add & norm of every GRN, out = LayerNorm(skip + GLU(z + bias)), and its
 * backward (fused_gate.py). The GLU's linear layer stays a matrix product in PyTorch (z is its
 * output without the bias); everything after it is one pass over each row instead of five passes
 * over the whole tensor, the row in the vector lanes (d need not be a multiple of R: a scalar tail).
 * ------------------------------------------------------------------------------------------- */

typedef struct {
    const float *z;        /* N x 2d  the GLU's linear layer without its bias: value | gate */
    const float *bias;     /* 2d */
    const float *skip;     /* N x d */
    const float *lw, *lb;  /* d  the layer norm's affine weight and bias */
    const float *grad;     /* N x d  backward: gradient of out */
    long n;
    int d;
    float eps;
    float *out;            /* N x d  forward */
    float *stats;          /* N x 2  mean and 1/std of each row (forward writes, backward reads) */
    float *dz, *dskip;     /* N x 2d, N x d  backward */
    float *partial;        /* threads x 4d  backward: each thread's sums for d bias (2d), d lw, d lb */
} gate_args;

static inline vf loadu(const float *p) { vf v; __builtin_memcpy(&v, p, sizeof v); return v; }
static inline void storeu(float *p, vf v) { __builtin_memcpy(p, &v, sizeof v); }
static inline float sigmoid1(float v) { return vsigmoid(splat(v))[0]; }

int gate_forward(const gate_args *a, int threads) {
    const int d = a->d, dv = d - d % R;
#pragma omp parallel for schedule(static) num_threads(threads > 0 ? threads : 1)
    for (long i = 0; i < a->n; ++i) {
        const float *restrict z = a->z + i * 2 * d, *restrict b = a->bias, *restrict sk = a->skip + i * d;
        float *restrict o = a->out + i * d;
        vf acc = splat(0.0f);
        float m = 0.0f, q = 0.0f;
        for (int j = 0; j < dv; j += R) {
            const vf y = loadu(sk + j) + (loadu(z + j) + loadu(b + j)) * vsigmoid(loadu(z + d + j) + loadu(b + d + j));
            storeu(o + j, y);
            acc += y;
        }
        for (int j = dv; j < d; ++j) {
            o[j] = sk[j] + (z[j] + b[j]) * sigmoid1(z[d + j] + b[d + j]);
            m += o[j];
        }
        m = (m + lane_sum(acc)) / (float)d;
        acc = splat(0.0f);
        for (int j = 0; j < dv; j += R) { const vf c = loadu(o + j) - m; acc += c * c; }
        for (int j = dv; j < d; ++j) q += (o[j] - m) * (o[j] - m);
        const float rstd = 1.0f / sqrtf((q + lane_sum(acc)) / (float)d + a->eps);
        for (int j = 0; j < dv; j += R) storeu(o + j, (loadu(o + j) - m) * rstd * loadu(a->lw + j) + loadu(a->lb + j));
        for (int j = dv; j < d; ++j) o[j] = (o[j] - m) * rstd * a->lw[j] + a->lb[j];
        a->stats[2 * i] = m;
        a->stats[2 * i + 1] = rstd;
    }
    return 0;
}

/* Per row: recompute y = skip + v * s (v = value, s = sigmoid(gate)) and its normalised yh, then
 *   gy = grad * lw,  dy = rstd * (gy - mean(gy) - yh * mean(gy * yh)),
 *   d skip = dy,  d value = dy * s,  d gate = dy * v * s * (1 - s),
 * and each thread sums d bias = (d value | d gate), d lw = grad * yh and d lb = grad over its rows
 * (into its own slice of `partial`: the caller adds the slices in order, so the sums are reproducible). */
int gate_backward(const gate_args *a, int threads) {
    const int d = a->d, dv = d - d % R;
    int failed = 0;
#pragma omp parallel num_threads(threads > 0 ? threads : 1) reduction(| : failed)
    {
#ifdef _OPENMP
        const int t = omp_get_thread_num();
#else
        const int t = 0;
#endif
        float *restrict acc = a->partial + (long)t * 4 * d; /* d bias (2d), d lw, d lb */
        float *restrict sb = acc + d, *restrict lwb = acc + 2 * d, *restrict lbb = acc + 3 * d;
        float *mem = malloc((size_t)4 * d * sizeof(float));
        if (!mem) failed = 1;
        for (int j = 0; j < 4 * d; ++j) acc[j] = 0.0f;
#pragma omp for schedule(static)
        for (long i = 0; i < a->n; ++i) {
            if (!mem) continue;
            float *restrict v = mem, *restrict s = mem + d, *restrict yh = mem + 2 * d, *restrict gy = mem + 3 * d;
            const float *restrict z = a->z + i * 2 * d, *restrict b = a->bias, *restrict sk = a->skip + i * d;
            const float *restrict g = a->grad + i * d, *restrict lw = a->lw;
            const float m = a->stats[2 * i], rstd = a->stats[2 * i + 1];
            vf c1v = splat(0.0f), c2v = splat(0.0f);
            float c1 = 0.0f, c2 = 0.0f;
            for (int j = 0; j < dv; j += R) {
                const vf vj = loadu(z + j) + loadu(b + j), sj = vsigmoid(loadu(z + d + j) + loadu(b + d + j));
                const vf yj = (loadu(sk + j) + vj * sj - m) * rstd, gj = loadu(g + j), gyj = gj * loadu(lw + j);
                storeu(v + j, vj);
                storeu(s + j, sj);
                storeu(yh + j, yj);
                storeu(gy + j, gyj);
                c1v += gyj;
                c2v += gyj * yj;
                storeu(lwb + j, loadu(lwb + j) + gj * yj);
                storeu(lbb + j, loadu(lbb + j) + gj);
            }
            for (int j = dv; j < d; ++j) {
                v[j] = z[j] + b[j];
                s[j] = sigmoid1(z[d + j] + b[d + j]);
                yh[j] = (sk[j] + v[j] * s[j] - m) * rstd;
                gy[j] = g[j] * lw[j];
                c1 += gy[j];
                c2 += gy[j] * yh[j];
                lwb[j] += g[j] * yh[j];
                lbb[j] += g[j];
            }
            c1 = (c1 + lane_sum(c1v)) / (float)d;
            c2 = (c2 + lane_sum(c2v)) / (float)d;
            float *restrict dz = a->dz + i * 2 * d, *restrict ds = a->dskip + i * d;
            for (int j = 0; j < dv; j += R) {
                const vf dy = rstd * (loadu(gy + j) - c1 - loadu(yh + j) * c2), sj = loadu(s + j);
                const vf dvj = dy * sj, dgj = dy * loadu(v + j) * sj * (1.0f - sj);
                storeu(ds + j, dy);
                storeu(dz + j, dvj);
                storeu(dz + d + j, dgj);
                storeu(acc + j, loadu(acc + j) + dvj);
                storeu(sb + j, loadu(sb + j) + dgj);
            }
            for (int j = dv; j < d; ++j) {
                const float dy = rstd * (gy[j] - c1 - yh[j] * c2);
                ds[j] = dy;
                dz[j] = dy * s[j];
                dz[d + j] = dy * v[j] * s[j] * (1.0f - s[j]);
                acc[j] += dz[j];
                sb[j] += dz[d + j];
            }
        }
        free(mem);
    }
    return failed;
}

/* Dropout: out[i] = x[i] times element i's keep-and-rescale factor (0 or 1/(1-p)), from the same
 * hash as the per-variable stage's: element i of a call with `seed` is kept iff its hash clears p.
 * The backward applies the same call to the gradient. x may be NULL: out then gets the factors. */
void dropout_apply(const float *x, float *out, long n, float p, unsigned seed, int threads) {
    const long blocks = (n + R - 1) / R;
#pragma omp parallel for schedule(static) num_threads(threads > 0 ? threads : 1)
    for (long i = 0; i < blocks; ++i) {
        vu idx;
        for (int r = 0; r < R; ++r) idx[r] = (unsigned)(i * R + r);
        const vf keep = dropout_scale(idx, seed, p);
        const long r0 = i * R;
        const int nr = block_rows(n, r0);
        if (nr == R && x) storeu(out + r0, loadu(x + r0) * keep);
        else for (int r = 0; r < nr; ++r) out[r0 + r] = x ? x[r0 + r] * keep[r] : keep[r];
    }
}

/* ---------------------------------------------------------------------------------------------
 * Training: one LSTM layer's recurrence and its backward (fused_lstm.py). PyTorch computes what is
 * not sequential in time as large matrix products: the input terms of every step at once,
 * gx = x W_ih^T, and in the backward the weight and input gradients from the gates'.
 * The kernel runs the recurrence on PyTorch's own row-major (B, T, .) arrays, RT batch rows at a
 * time with the features in the vector lanes, so nothing is transposed. Needs d a multiple of R.
 * ------------------------------------------------------------------------------------------- */

typedef struct {
    const float *gx;        /* B x T x 4d  input terms of the gates' pre-activations (x W_ih^T) */
    const float *bias;      /* 4d  b_ih + b_hh */
    const float *w_hh_t;    /* d x 4d  W_hh transposed (forward) */
    const float *w_hh;      /* 4d x d  (backward) */
    const float *h0, *c0;   /* B x d */
    long b, t;
    int d;
    float *gates;           /* B x T x 4d  activated gates i, f, g, o: forward out, backward in */
    float *c;               /* B x T x d  cell states: forward out, backward in */
    float *h;               /* B x T x d  hidden states (the layer's output): forward out */
    const float *dh;        /* B x T x d  backward: gradient of each step's h from the layers above */
    const float *dhn, *dcn; /* B x d  backward: gradient of the final state */
    float *dgx;             /* B x T x 4d  backward out: gradient of the gates' pre-activations */
    float *dh0, *dc0;       /* B x d  backward out */
} lstm_train_args;

#define RT 4 /* batch rows per tile: RT x 4 accumulators stay in registers */

/* out[r][c] = (init ? init[r][c] : 0) + sum_k in[r][k] * w[k * nc + c], for nr <= RT rows and CW
 * vectors of columns from column c0. Inlined with constant nr and cw in the hot path. */
static inline __attribute__((always_inline)) void row_tile(int nr, int cw, const float *const *in, int nk,
                                                           const float *restrict w, int nc, int c0,
                                                           const float *const *init, float *const *out) {
    vf acc[RT][4];
    for (int r = 0; r < nr; ++r)
        for (int v = 0; v < cw; ++v) acc[r][v] = init ? loadu(init[r] + c0 + v * R) : splat(0.0f);
    for (int k = 0; k < nk; ++k) {
        vf wk[4];
        for (int v = 0; v < cw; ++v) wk[v] = loadu(w + (long)k * nc + c0 + v * R);
        for (int r = 0; r < nr; ++r) {
            const float x = in[r][k];
            for (int v = 0; v < cw; ++v) acc[r][v] += x * wk[v];
        }
    }
    for (int r = 0; r < nr; ++r)
        for (int v = 0; v < cw; ++v) storeu(out[r] + c0 + v * R, acc[r][v]);
}

static __attribute__((noinline)) void row_tile_any(int nr, int cw, const float *const *in, int nk,
                                                   const float *restrict w, int nc, int c0,
                                                   const float *const *init, float *const *out) {
    row_tile(nr, cw, in, nk, w, nc, c0, init, out);
}

/* out[r] = init[r] + in[r] W for nr rows (W nk x nc row-major, nc a multiple of R) */
static void row_gemm(int nr, const float *const *in, int nk, const float *restrict w, int nc,
                     const float *const *init, float *const *out) {
    for (int c0 = 0; c0 < nc; c0 += 4 * R) {
        const int cw = nc - c0 >= 4 * R ? 4 : (nc - c0) / R;
        if (nr == RT && cw == 4) row_tile(RT, 4, in, nk, w, nc, c0, init, out);
        else row_tile_any(nr, cw, in, nk, w, nc, c0, init, out);
    }
}

int lstm_train_forward(const lstm_train_args *a, int threads) {
    const long steps = a->t, groups = (a->b + RT - 1) / RT;
    const int d = a->d;
#pragma omp parallel for schedule(static) num_threads(threads > 0 ? threads : 1)
    for (long i = 0; i < groups; ++i) {
        const long b0 = i * RT;
        const int nr = a->b - b0 < RT ? (int)(a->b - b0) : RT;
        for (long s = 0; s < steps; ++s) {
            const float *hin[RT], *gin[RT];
            float *gout[RT];
            for (int r = 0; r < nr; ++r) {
                const long row = (b0 + r) * steps + s;
                hin[r] = s ? a->h + (row - 1) * d : a->h0 + (b0 + r) * d;
                gin[r] = a->gx + row * 4 * d;
                gout[r] = a->gates + row * 4 * d;
            }
            row_gemm(nr, hin, d, a->w_hh_t, 4 * d, gin, gout); /* pre-activations into gates */
            for (int r = 0; r < nr; ++r) {
                const long row = (b0 + r) * steps + s;
                float *restrict g = gout[r], *restrict c = a->c + row * d, *restrict h = a->h + row * d;
                const float *restrict cp = s ? c - d : a->c0 + (b0 + r) * d;
                for (int j = 0; j < d; j += R) {
                    const float *restrict bias = a->bias;
                    const vf ig = vsigmoid(loadu(g + j) + loadu(bias + j));
                    const vf fg = vsigmoid(loadu(g + d + j) + loadu(bias + d + j));
                    const vf gg = vtanh(loadu(g + 2 * d + j) + loadu(bias + 2 * d + j));
                    const vf og = vsigmoid(loadu(g + 3 * d + j) + loadu(bias + 3 * d + j));
                    const vf cj = fg * loadu(cp + j) + ig * gg;
                    storeu(g + j, ig);
                    storeu(g + d + j, fg);
                    storeu(g + 2 * d + j, gg);
                    storeu(g + 3 * d + j, og);
                    storeu(c + j, cj);
                    storeu(h + j, og * vtanh(cj));
                }
            }
        }
    }
    return 0;
}

/* Back through the steps: with dh = (gradient from above) + (recurrent gradient) and tc = tanh(c_s),
 *   dc = dc_next + dh * o * (1 - tc^2);  d pre-activations of i, f, g, o:
 *   dc * g * i (1 - i),  dc * c_{s-1} * f (1 - f),  dc * i * (1 - g^2),  dh * tc * o (1 - o);
 *   dc_next = dc * f;  recurrent gradient = (d pre-activations) W_hh. */
int lstm_train_backward(const lstm_train_args *a, int threads) {
    const long steps = a->t, groups = (a->b + RT - 1) / RT;
    const int d = a->d;
    int failed = 0;
#pragma omp parallel num_threads(threads > 0 ? threads : 1) reduction(| : failed)
    {
        float *mem = aligned_alloc(sizeof(vf), (size_t)(2 * RT * d) * sizeof(float));
        if (!mem) failed = 1;
#pragma omp for schedule(static)
        for (long i = 0; i < groups; ++i) {
            if (!mem) continue;
            const long b0 = i * RT;
            const int nr = a->b - b0 < RT ? (int)(a->b - b0) : RT;
            float *dhr[RT], *dc[RT];
            for (int r = 0; r < nr; ++r) {
                dhr[r] = mem + r * d;
                dc[r] = mem + (RT + r) * d;
                for (int j = 0; j < d; ++j) {
                    dhr[r][j] = a->dhn ? a->dhn[(b0 + r) * d + j] : 0.0f;
                    dc[r][j] = a->dcn ? a->dcn[(b0 + r) * d + j] : 0.0f;
                }
            }
            for (long s = steps - 1; s >= 0; --s) {
                const float *dgin[RT];
                for (int r = 0; r < nr; ++r) {
                    const long row = (b0 + r) * steps + s;
                    const float *restrict g = a->gates + row * 4 * d, *restrict c = a->c + row * d;
                    const float *restrict cp = s ? c - d : a->c0 + (b0 + r) * d, *restrict up = a->dh + row * d;
                    float *restrict dg = a->dgx + row * 4 * d;
                    for (int j = 0; j < d; j += R) {
                        const vf dh = loadu(up + j) + loadu(dhr[r] + j);
                        const vf ig = loadu(g + j), fg = loadu(g + d + j), gg = loadu(g + 2 * d + j);
                        const vf og = loadu(g + 3 * d + j), tc = vtanh(loadu(c + j));
                        const vf dcj = loadu(dc[r] + j) + dh * og * (1.0f - tc * tc);
                        storeu(dg + j, dcj * gg * ig * (1.0f - ig));
                        storeu(dg + d + j, dcj * loadu(cp + j) * fg * (1.0f - fg));
                        storeu(dg + 2 * d + j, dcj * ig * (1.0f - gg * gg));
                        storeu(dg + 3 * d + j, dh * tc * og * (1.0f - og));
                        storeu(dc[r] + j, dcj * fg);
                    }
                    dgin[r] = dg;
                }
                row_gemm(nr, dgin, 4 * d, a->w_hh, d, NULL, dhr);
            }
            for (int r = 0; r < nr; ++r)
                for (int j = 0; j < d; ++j) {
                    a->dh0[(b0 + r) * d + j] = dhr[r][j];
                    a->dc0[(b0 + r) * d + j] = dc[r][j];
                }
        }
        free(mem);
    }
    return failed;
}

/* ---------------------------------------------------------------------------------------------
 * Inference: interpretable multi-head attention (fused_attention.py, attention.py), one batch row
 * at a time. With q~_jh = Wk_h^T (Wq_h x_j + bq_h) / sqrt(dh) (the key bias cancels in the softmax):
 *   w_jh = softmax over the unblocked keys k of q~_jh . kv_k;   a_j = mean_h w_jh
 *   out_j = Wo (Wv (sum_k a_jk kv_k) + (sum_k a_jk) bv) + bo      (the heads share their values)
 *         = (Wo Wv) (sum_k a_jk kv_k) + (sum_k a_jk) (Wo bv) + bo    (the layers folded by the caller)
 * The Lq x H query-heads sit in the vector lanes, head by head (lane h * Lq + j): a key's scores for
 * all of them are a few vectors, its inputs are read as they are stored (no transposition of the
 * keys), the softmax over the keys is lane-wise and the heads' average adds H unaligned vectors.
 * ------------------------------------------------------------------------------------------- */

typedef struct {
    const float *q;          /* B x Lq x d  the queries' inputs */
    const float *kv;         /* B x Lk x d  the keys' (and values') inputs */
    const int *mask;         /* Lq x Lk  nonzero = blocked */
    long b;
    int lq, lk, d, heads, dh;
    const float *wq_t, *bq;  /* d x H*dh, H*dh  query layer (transposed) */
    const float *wk;         /* H*dh x d  key layer (as stored: row h*dh + f) */
    const float *wvo, *bvo;  /* d x d, d  value layer then output layer's weight: (Wo Wv)^T and Wo bv */
    const float *bo;         /* d  output layer's bias */
    float root;              /* sqrt(dh): the queries are divided by it */
    float *out;              /* B x Lq x d */
    float *weights;          /* B x Lq x Lk  head-averaged attention weights */
} attention_args;

/* out[r] = (init ? init[r] : 0) + in[r] W for n rows (W nk x nc row-major): RT rows and up to four
 * vectors of columns at a time in registers (row_gemm) where nc is a multiple of R, else plainly */
static void rows_times(int n, const float *const *in, int nk, const float *restrict w, int nc,
                       const float *const *init, float *const *out) {
    for (int r0 = 0; r0 < n; r0 += RT) {
        const int nr = n - r0 < RT ? n - r0 : RT;
        const float *const *i0 = init ? init + r0 : NULL;
        if (nc % R == 0) {
            for (int c0 = 0; c0 < nc; c0 += 4 * R) {
                const int cw = nc - c0 >= 4 * R ? 4 : (nc - c0) / R;
#define ROWS_TILE(NR, CW) row_tile(NR, CW, in + r0, nk, w, nc, c0, i0, out + r0)
                switch (nr * 8 + cw) { /* constant sizes, so that the accumulators stay in registers */
                case 4 * 8 + 4: ROWS_TILE(4, 4); break;
                case 4 * 8 + 2: ROWS_TILE(4, 2); break;
                case 4 * 8 + 1: ROWS_TILE(4, 1); break;
                case 1 * 8 + 4: ROWS_TILE(1, 4); break;
                case 1 * 8 + 2: ROWS_TILE(1, 2); break;
                case 1 * 8 + 1: ROWS_TILE(1, 1); break;
                default: row_tile_any(nr, cw, in + r0, nk, w, nc, c0, i0, out + r0);
                }
#undef ROWS_TILE
            }
            continue;
        }
        for (int r = r0; r < r0 + nr; ++r) {
            float *restrict o = out[r];
            for (int c = 0; c < nc; ++c) o[c] = init ? init[r][c] : 0.0f;
            for (int k = 0; k < nk; ++k) {
                const float x = in[r][k];
                const float *restrict wk = w + (long)k * nc;
                for (int c = 0; c < nc; ++c) o[c] += x * wk[c];
            }
        }
    }
}

#define KT 8 /* keys per score tile: KT x VT accumulators in registers */
#define VT 2 /* vectors of query-heads per score tile */

/* sc[(k0 + t) * nv + v0 + u] = sum_e qt[e * nv + v0 + u] * kv[(k0 + t) * d + e] for t < nk <= KT, u < nu <= VT */
static inline __attribute__((always_inline)) void score_tile(int nk, int nu, const vf *restrict qt, int nv, int v0,
                                                             const float *restrict kv, int d, int k0,
                                                             vf *restrict sc) {
    vf acc[KT][VT];
    for (int t = 0; t < nk; ++t)
        for (int u = 0; u < nu; ++u) acc[t][u] = splat(0.0f);
    for (int e = 0; e < d; ++e) {
        vf x[VT];
        for (int u = 0; u < nu; ++u) {
            x[u] = qt[e * nv + v0 + u];
            IN_REGISTER(x[u]);
        }
        for (int t = 0; t < nk; ++t) {
            const float y = kv[(k0 + t) * d + e];
            for (int u = 0; u < nu; ++u) acc[t][u] += x[u] * y;
        }
    }
    for (int t = 0; t < nk; ++t)
        for (int u = 0; u < nu; ++u) sc[(k0 + t) * nv + v0 + u] = acc[t][u];
}

static __attribute__((noinline)) void score_tile_any(int nk, int nu, const vf *restrict qt, int nv, int v0,
                                                     const float *restrict kv, int d, int k0, vf *restrict sc) {
    score_tile(nk, nu, qt, nv, v0, kv, d, k0, sc);
}

/* one thread's scratch memory: vectors (their sizes in attention_forward), then floats */
typedef struct {
    vf *qt, *sc, *top, *total, *heads, *wsum;
    float *qk, *qh, *avg, *ak;
    const float **xin, **bias;
    float **qrow;
} attention_scratch;

/* row b of the batch; keep and open as in attention_forward, nv and nj its vector counts */
static void attention_row(const attention_args *restrict a, const attention_scratch *restrict w, const vi *keep,
                          const int *open, int nv, int nj, long b) {
    const int lq = a->lq, lk = a->lk, d = a->d, nh = a->heads, dh = a->dh, hd = nh * dh, qh_n = lq * nh;
    const float *restrict x = a->q + b * lq * d, *restrict kv = a->kv + b * lk * d;
    vf *restrict sc = w->sc, *restrict top = w->top, *restrict total = w->total;
    const float **xin = w->xin, **bias = w->bias;
    float **qrow = w->qrow;
    /* q~ of every query-head, then transposed into the lanes */
    for (int j = 0; j < lq; ++j) {
        xin[j] = x + j * d;
        bias[j] = a->bq;
        qrow[j] = w->qh + j * hd;
    }
    rows_times(lq, xin, d, a->wq_t, hd, bias, qrow);
    for (int f = 0; f < lq * hd; ++f) w->qh[f] /= a->root;
    for (int h = 0; h < nh; ++h) {
        for (int j = 0; j < lq; ++j) {
            xin[j] = w->qh + j * hd + h * dh;
            qrow[j] = w->qk + (h * lq + j) * d;
        }
        rows_times(lq, xin, dh, a->wk + (long)h * dh * d, d, NULL, qrow);
    }
    float *restrict ql = (float *)w->qt;
    for (int e = 0; e < d; ++e)
        for (int l = 0; l < qh_n; ++l) ql[e * nv * R + l] = w->qk[l * d + e];
    /* the scores: KT keys at a time, all query-heads */
    for (int v0 = 0; v0 < nv; v0 += VT) {
        const int nu = nv - v0 < VT ? nv - v0 : VT;
        int k0 = 0;
        for (; k0 + KT <= lk; k0 += KT) {
            if (nu == VT) score_tile(KT, VT, w->qt, nv, v0, kv, d, k0, sc);
            else score_tile(KT, 1, w->qt, nv, v0, kv, d, k0, sc);
        }
        if (k0 < lk) score_tile_any(lk - k0, nu, w->qt, nv, v0, kv, d, k0, sc);
    }
    /* masked softmax over the keys, lane-wise */
    for (int v = 0; v < nv; ++v) {
        top[v] = splat(-INFINITY);
        total[v] = splat(0.0f);
    }
    for (int k = 0; k < lk; ++k)
        for (int v = 0; v < nv; ++v)
            top[v] = vmax(top[v], vsel(keep[k * nv + v], sc[k * nv + v], splat(-INFINITY)));
    for (int k = 0; k < lk; ++k)
        for (int v = 0; v < nv; ++v) {
            const vf e = vsel(keep[k * nv + v], vexp(sc[k * nv + v] - top[v]), splat(0.0f));
            sc[k * nv + v] = e;
            total[v] += e;
        }
    for (int v = 0; v < nv; ++v) total[v] = 1.0f / total[v];
    for (int k = 0; k < lk; ++k)
        for (int v = 0; v < nv; ++v) sc[k * nv + v] *= total[v];
    /* the heads' average: for each key, the sum of H vectors read at h * Lq; and its sum over the keys
     * (the value bias's factor); then written out query by query */
    const float *restrict wl = (const float *)sc;
    for (int u = 0; u < nj; ++u) w->wsum[u] = splat(0.0f);
    for (int k = 0; k < lk; ++k)
        for (int u = 0; u < nj; ++u) {
            vf t = splat(0.0f);
            for (int h = 0; h < nh; ++h) t += loadu(wl + (long)k * nv * R + h * lq + u * R);
            w->heads[k * nj + u] = t / (float)nh;
            w->wsum[u] += w->heads[k * nj + u];
        }
    const float *restrict hl = (const float *)w->heads, *restrict sums = (const float *)w->wsum;
    for (int j = 0; j < lq; ++j) {
        float *restrict m = w->avg + j * lk, *restrict wout = a->weights + (b * lq + j) * lk;
        for (int k = 0; k < lk; ++k) m[k] = hl[k * nj * R + j];
        if (!open[j]) /* every key blocked: NaN, as PyTorch's softmax gives */
            for (int k = 0; k < lk; ++k) m[k] = NAN;
        __builtin_memcpy(wout, m, (size_t)lk * sizeof(float));
        float *restrict y = a->out + (b * lq + j) * d;
        const float sum = open[j] ? sums[j] : NAN;
        for (int e = 0; e < d; ++e) y[e] = a->bo[e] + sum * a->bvo[e];
    }
    /* the weighted keys, then through the folded value and output layers */
    for (int j = 0; j < lq; ++j) {
        xin[j] = w->avg + j * lk;
        qrow[j] = w->ak + j * d;
    }
    rows_times(lq, xin, lk, kv, d, NULL, qrow);
    for (int j = 0; j < lq; ++j) {
        xin[j] = w->ak + j * d;
        bias[j] = qrow[j] = a->out + (b * lq + j) * d;
    }
    rows_times(lq, xin, d, a->wvo, d, bias, qrow);
}

int attention_forward(const attention_args *a, int threads) {
    const int lq = a->lq, lk = a->lk, d = a->d, nh = a->heads, hd = nh * a->dh, qh_n = lq * nh;
    const int nv = (qh_n + R - 1) / R; /* vectors of query-heads; lane l of vector v is query-head v * R + l */
    const int nj = (lq + R - 1) / R;   /* vectors of queries */
    /* keep[k * nv + v]: the lanes (query-heads) that may look at key k, padding lanes at all;
     * open[j]: whether query j may look at any key */
    vi *keep = aligned_alloc(sizeof(vi), (size_t)(lk * nv) * sizeof(vi));
    int *open = malloc((size_t)lq * sizeof(int));
    if (!keep || !open) {
        free(keep);
        free(open);
        return 1;
    }
    for (int j = 0; j < lq; ++j) open[j] = 0;
    for (int k = 0; k < lk; ++k)
        for (int l = 0; l < nv * R; ++l) {
            const int j = l % lq, ok = l >= qh_n || !a->mask[(long)j * lk + k];
            keep[k * nv + l / R][l % R] = ok ? -1 : 0;
            if (l < qh_n) open[j] |= ok;
        }
    int failed = 0;
#pragma omp parallel num_threads(threads > 0 ? threads : 1) reduction(| : failed)
    {
        /* vectors: q~ transposed (d x nv), the scores then weights (Lk x nv, and one vector that the
         * heads' average may read past the last key's), the softmax's max and sum (nv each), the
         * heads' average (Lk x nj) and its sums (nj); then floats: q~ (H*Lq x d), the projected
         * queries (Lq x H*dh), the head-averaged weights (Lq x Lk), the weighted keys (Lq x d) */
        const size_t nvec = (size_t)(d + lk + 2) * nv + 1 + (size_t)(lk + 1) * nj;
        const size_t nfloat = (size_t)lq * (nh * d + hd + lk + d);
        vf *mem = aligned_alloc(sizeof(vf), (nvec + (nfloat + R - 1) / R) * sizeof(vf));
        attention_scratch w = {0};
        w.xin = malloc((size_t)lq * sizeof(*w.xin));
        w.bias = malloc((size_t)lq * sizeof(*w.bias));
        w.qrow = malloc((size_t)lq * sizeof(*w.qrow));
        const int ready = mem && w.xin && w.bias && w.qrow;
        if (ready) {
            w.qt = mem;
            w.sc = w.qt + (size_t)d * nv;
            w.top = w.sc + (size_t)lk * nv + 1;
            w.total = w.top + nv;
            w.heads = w.total + nv;
            w.wsum = w.heads + (size_t)lk * nj;
            w.qk = (float *)(w.wsum + nj);
            w.qh = w.qk + (size_t)qh_n * d;
            w.avg = w.qh + (size_t)lq * hd;
            w.ak = w.avg + (size_t)lq * lk;
            __builtin_memset(w.qt, 0, (size_t)d * nv * sizeof(vf)); /* the padding lanes stay zero */
            w.sc[(size_t)lk * nv] = splat(0.0f);
        } else {
            failed = 1;
        }
#pragma omp for schedule(static)
        for (long b = 0; b < a->b; ++b)
            if (ready) attention_row(a, &w, keep, open, nv, nj, b);
        free(mem);
        free(w.xin);
        free(w.bias);
        free(w.qrow);
    }
    free(keep);
    free(open);
    return failed;
}
