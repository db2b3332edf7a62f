/* Fused inference kernel for RealVariableSelection (see real_selection.py).
 *
 * One pass per row: the flat GRN gives the selection weights (softmax over V), then each
 * variable's GRN, its layer norm and the weighted sum are computed in registers, so none of
 * the V x N x 2d activations the tensor path materialises ever reach memory. The weights it
 * receives are the folded ones of the tensor path (rank-1 first layers, second layer folded
 * into the gate), so both compute the same function; a test compares them.
 *
 * Built at first use with the system C compiler (-O3 -march=native -ffast-math -fopenmp) and
 * loaded with ctypes.
 */
#include <math.h>
#include <stdlib.h>

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
    float *sel;         /* N x d out: sum_v w_v * normalised GRN_v (before the norm's affine) */
    float *wout;        /* N x V out: selection weights */
} vsn_args;

#define R 16 /* rows per block = lanes of one vector */

typedef float vf __attribute__((vector_size(4 * R), aligned(4 * R)));
typedef int vi __attribute__((vector_size(4 * R), aligned(4 * R)));

static inline vf splat(float v) { return (vf){0} + v; }

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

static inline vf vmax(vf a, vf b) { return vsel(a > b, a, b); }

static inline vf vrsqrt(vf v) {
    vf out;
    for (int r = 0; r < R; ++r) out[r] = 1.0f / sqrtf(v[r]);
    return out;
}

/* exp on every lane (Cephes' expf: range reduction to [-ln2/2, ln2/2], degree-6 polynomial,
 * about 1 ulp); portable through GCC vector extensions to SSE, AVX2 or AVX-512. */
static inline vf vexp(vf x) {
    x = vsel(x < 88.3762626647949f, x, splat(88.3762626647949f));
    x = vmax(x, splat(-87.3365478515625f));
    vf fx = x * 1.44269504088896341f + 0.5f;
    vi n = __builtin_convertvector(fx, vi);
    vf t = __builtin_convertvector(n, vf);
    t = vsel(t > fx, t - 1.0f, t); /* floor */
    n = __builtin_convertvector(t, vi);
    x = x - t * 0.693359375f + t * 2.12194440e-4f;
    vf y = splat(1.9875691500e-4f);
    y = y * x + 1.3981999507e-3f;
    y = y * x + 8.3334519073e-3f;
    y = y * x + 4.1665795894e-2f;
    y = y * x + 1.6666665459e-1f;
    y = y * x + 5.0000001201e-1f;
    y = y * (x * x) + x + 1.0f;
    vi bits = (n + 127) << 23;
    vf scale;
    __builtin_memcpy(&scale, &bits, sizeof scale);
    return y * scale;
}

static inline vf velu(vf v) { return vsel(v > 0.0f, v, vexp(v) - 1.0f); }
static inline vf vsigmoid(vf v) { return 1.0f / (1.0f + vexp(-v)); }

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

static void one_block(const vsn_args *restrict a, const block *restrict b, long r0, int nr) {
    const int nv = a->nv, d = a->d, e = a->e;
    vf *restrict xb = b->xb, *restrict h = b->h, *restrict g = b->g, *restrict s = b->s, *restrict w = b->w;
    vf *restrict hv = b->hv, *restrict gate = b->gate;
    for (int v = 0; v < nv; ++v) {
        vf col = splat(0.0f);
        for (int r = 0; r < nr; ++r) col[r] = a->x[(r0 + r) * nv + v];
        xb[v] = col;
    }
    /* flat GRN over all variables -> selection weights */
    for (int j = 0; j < d; ++j) h[j] = splat(a->fc[j]);
    if (a->ctx)
        for (int r = 0; r < nr; ++r) {
            const float *cr = a->ctx + ((r0 + r) / a->steps) * d;
            for (int j = 0; j < d; ++j) h[j][r] += cr[j];
        }
    for (int v = 0; v < nv; ++v)
        for (int j = 0; j < d; ++j) h[j] += xb[v] * a->fa[v * d + j];
    for (int j = 0; j < d; ++j) h[j] = velu(h[j]);
    for (int k = 0; k < 2 * nv; ++k) g[k] = splat(a->fb[k]);
    for (int j = 0; j < d; ++j)
        for (int k = 0; k < 2 * nv; ++k) g[k] += h[j] * a->fw[j * 2 * nv + k];
    for (int k = 0; k < nv; ++k) s[k] = splat(a->sc[k]);
    for (int u = 0; u < nv; ++u)
        for (int k = 0; k < nv; ++k) s[k] += xb[u] * a->sa[u * nv + k];
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
        const vf x = xb[v];
        for (int k = 0; k < e; ++k) hv[k] = velu(x * a->a1[v * e + k] + a->c1[v * e + k]);
        const float *restrict bg = a->bg + (long)v * 2 * d;
        const float *restrict wg = a->wg + (long)v * e * 2 * d;
        const float *restrict as = a->as + (long)v * d, *restrict cs = a->cs + (long)v * d;
        m = splat(0.0f);
        for (int j = 0; j < d; ++j) {
            vf lin = splat(bg[j]), gt = splat(bg[d + j]);
            for (int k = 0; k < e; ++k) {
                lin += hv[k] * wg[k * 2 * d + j];
                gt += hv[k] * wg[k * 2 * d + d + j];
            }
            gate[j] = lin * vsigmoid(gt) + cs[j] + x * as[j];
            m += gate[j];
        }
        m /= (float)d;
        q = splat(0.0f);
        for (int j = 0; j < d; ++j) q += (gate[j] - m) * (gate[j] - m);
        const vf scale = w[v] * vrsqrt(q / (float)d + a->eps);
        for (int j = 0; j < d; ++j) h[j] += scale * (gate[j] - m);
    }
    for (int r = 0; r < nr; ++r) {
        float *out = a->sel + (r0 + r) * d;
        float *wo = a->wout + (r0 + r) * nv;
        for (int j = 0; j < d; ++j) out[j] = h[j][r];
        for (int k = 0; k < nv; ++k) wo[k] = w[k][r];
    }
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
                one_block(a, &b, r0, a->n - r0 < R ? (int)(a->n - r0) : R);
            }
            free(scratch);
        }
    }
    return failed;
}
