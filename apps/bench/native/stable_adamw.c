// StableAdamW's fused two-pass step over float32 tensors in C: the native anchor of the bench
// (issue #17). It does what @stable-adamw/cpu's float32 WebAssembly kernel does, with the same
// memory traffic (pass 1 reads g, m, v and writes m, v; pass 2 reads p, m, v and writes p) and the
// same arithmetic (float32 lanes, RMS partial sums in float64, one per block of 16384 elements,
// added per tensor in block order; η and the decay factor in float64, rounded to float32), so the
// bench can put the WASM kernel's speed next to native code of a known vector width.
//
// Built by the bench with the system C compiler (-O3, -fopenmp; 128-bit or -march=native) and run
// as a child process:
//   stable_adamw bench <threads> <n1,n2,...>
//     allocates the tensors (seeded like the bench's JS subjects), prints one JSON line
//     {"ready":true,...}, then per "step" line read from stdin runs one step and prints
//     {"seconds":s}; "quit" or end of input ends it.
//   stable_adamw check <threads> <lr> <beta1> <beta2> <eps> <weight_decay> <n1,...> <scale1,...>
//     one step per gradient scale (step s, tensor i: seeded values of seed 1000·s + i times the
//     scale), then prints the params and moments as JSON, for the test against the float64
//     reference.
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BLOCK_ELEMENTS 16384
#define MAX_TENSORS 4096

typedef struct {
  float *p, *g, *m, *v;
  size_t n;
  size_t first_block, blocks;
  float neg_eta, decay;
} tensor_t;

typedef struct {
  int tensor;
  size_t start, count;
} block_t;

typedef struct {
  double lr, beta1, beta2, eps, weight_decay;
} hyper_t;

typedef struct {
  tensor_t *tensors;
  int count;
  block_t *blocks;
  size_t block_count;
  double *partials;
} model_t;

// The bench's seeded values (src/subjects/values.ts): a 32-bit LCG mapped to [−scale, scale).
static void seeded_values(float *out, size_t n, uint32_t seed, double scale) {
  uint32_t state = (uint32_t)((uint64_t)seed * 2654435761u);
  if (state == 0) state = 1;
  for (size_t i = 0; i < n; i++) {
    state = state * 1664525u + 1013904223u;
    out[i] = (float)(((double)state / 2147483648.0 - 1.0) * scale);
  }
}

// optimi's debiased beta: β̂(t) = (β^t − β) / (β^t − 1), in float64.
static double debias_beta(double beta, int t) {
  double pow_t = pow(beta, t);
  return (pow_t - beta) / (pow_t - 1.0);
}

static float *alloc_floats(size_t n) {
  size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
  float *x = aligned_alloc(64, bytes);
  if (!x) {
    fprintf(stderr, "out of memory allocating %zu bytes\n", bytes);
    exit(3);
  }
  return x;
}

// The WASM kernel multiplies each gradient by the loss scaler's factor (1 without one); so does
// this one, read at run time (a non-static global) so the compiler keeps the multiply.
float grad_scale = 1.0f;

// Phase 1 over one block: g ← g·gradScale; m ← m + w1(g − m); v ← β̂2·v + w2·g²; returns
// Σ g²/max(v, ε²) in float64.
static double moments(const float *restrict g, float *restrict m, float *restrict v, size_t n, float scale, float w1,
                      float beta2, float w2, float eps_sq) {
  double sum = 0;
#pragma omp simd reduction(+ : sum) aligned(g, m, v : 16)
  for (size_t i = 0; i < n; i++) {
    float gi = g[i] * scale;
    float mi = m[i];
    float gg = gi * gi;
    float vi = beta2 * v[i] + w2 * gg;
    m[i] = mi + w1 * (gi - mi);
    v[i] = vi;
    sum += (double)(gg / (vi > eps_sq ? vi : eps_sq));
  }
  return sum;
}

// Phase 2 over one block: θ ← θ·decay − η·m/(√v + ε).
static void update(float *restrict p, const float *restrict m, const float *restrict v, size_t n, float neg_eta,
                   float decay, float eps) {
#pragma omp simd aligned(p, m, v : 16)
  for (size_t i = 0; i < n; i++) p[i] = p[i] * decay + (neg_eta * m[i]) / (sqrtf(v[i]) + eps);
}

// One step t over every tensor: phase 1 on all blocks, η per tensor from its partials in block
// order (NaN RMS: no clip, as optimi), phase 2 on all blocks; blocks shared among the threads.
static void step(model_t *model, const hyper_t *h, int t) {
  double beta1_hat = debias_beta(h->beta1, t);
  double beta2_hat = debias_beta(h->beta2, t);
  float w1 = (float)(1.0 - beta1_hat);
  float beta2 = (float)beta2_hat;
  float w2 = (float)(1.0 - beta2_hat);
  float eps_sq = (float)(h->eps * h->eps);
  float eps = (float)h->eps;
  float scale = grad_scale;
  long blocks = (long)model->block_count;
#pragma omp parallel
  {
#pragma omp for schedule(static)
    for (long b = 0; b < blocks; b++) {
      const block_t *blk = &model->blocks[b];
      tensor_t *x = &model->tensors[blk->tensor];
      size_t at = blk->start;
      model->partials[b] = moments(x->g + at, x->m + at, x->v + at, blk->count, scale, w1, beta2, w2, eps_sq);
    }
#pragma omp single
    for (int i = 0; i < model->count; i++) {
      tensor_t *x = &model->tensors[i];
      double sum = 0;
      for (size_t b = 0; b < x->blocks; b++) sum += model->partials[x->first_block + b];
      double rms = sqrt(sum / (double)x->n);
      double eta = h->lr / (rms > 1 ? rms : 1);
      x->neg_eta = (float)-eta;
      x->decay = (float)(1.0 - eta * h->weight_decay);
    }
#pragma omp for schedule(static)
    for (long b = 0; b < blocks; b++) {
      const block_t *blk = &model->blocks[b];
      tensor_t *x = &model->tensors[blk->tensor];
      size_t at = blk->start;
      update(x->p + at, x->m + at, x->v + at, blk->count, x->neg_eta, x->decay, eps);
    }
  }
}

static int parse_sizes(const char *text, size_t *sizes) {
  int count = 0;
  const char *s = text;
  while (*s) {
    char *end;
    unsigned long long n = strtoull(s, &end, 10);
    if (end == s || n == 0 || count == MAX_TENSORS) return -1;
    sizes[count++] = (size_t)n;
    s = *end == ',' ? end + 1 : end;
    if (*end != ',' && *end != '\0') return -1;
  }
  return count;
}

static void open_model(model_t *model, const size_t *sizes, int count) {
  model->count = count;
  model->tensors = calloc((size_t)count, sizeof(tensor_t));
  size_t blocks = 0;
  for (int i = 0; i < count; i++) blocks += (sizes[i] + BLOCK_ELEMENTS - 1) / BLOCK_ELEMENTS;
  model->blocks = calloc(blocks, sizeof(block_t));
  model->partials = calloc(blocks, sizeof(double));
  model->block_count = blocks;
  if (!model->tensors || !model->blocks || !model->partials) {
    fprintf(stderr, "out of memory\n");
    exit(3);
  }
  size_t b = 0;
  for (int i = 0; i < count; i++) {
    tensor_t *x = &model->tensors[i];
    x->n = sizes[i];
    x->p = alloc_floats(x->n);
    x->g = alloc_floats(x->n);
    x->m = alloc_floats(x->n);
    x->v = alloc_floats(x->n);
    seeded_values(x->p, x->n, 2 * (uint32_t)i + 1, 1.0);
    seeded_values(x->g, x->n, 2 * (uint32_t)i + 2, 1e-2);
    memset(x->m, 0, x->n * sizeof(float));
    memset(x->v, 0, x->n * sizeof(float));
    x->first_block = b;
    for (size_t start = 0; start < x->n; start += BLOCK_ELEMENTS, b++) {
      model->blocks[b].tensor = i;
      model->blocks[b].start = start;
      model->blocks[b].count = x->n - start < BLOCK_ELEMENTS ? x->n - start : BLOCK_ELEMENTS;
    }
    x->blocks = b - x->first_block;
  }
}

static void close_model(model_t *model) {
  for (int i = 0; i < model->count; i++) {
    tensor_t *x = &model->tensors[i];
    free(x->p);
    free(x->g);
    free(x->m);
    free(x->v);
  }
  free(model->tensors);
  free(model->blocks);
  free(model->partials);
}

static const char *vector_isa(void) {
#if defined(__AVX512F__)
  return "avx512";
#elif defined(__AVX2__)
  return "avx2";
#elif defined(__AVX__)
  return "avx";
#elif defined(__SSE4_2__)
  return "sse4.2";
#elif defined(__ARM_NEON)
  return "neon";
#else
  return "baseline";
#endif
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void print_floats(const char *key, const model_t *model, size_t field) {
  printf("\"%s\":[", key);
  for (int i = 0; i < model->count; i++) {
    const tensor_t *x = &model->tensors[i];
    const float *a = field == 0 ? x->p : field == 1 ? x->m : x->v;
    printf(i ? ",[" : "[");
    for (size_t j = 0; j < x->n; j++) printf(j ? ",%.9g" : "%.9g", (double)a[j]);
    printf("]");
  }
  printf("]");
}

static int usage(void) {
  fprintf(stderr,
          "usage: stable_adamw bench <threads> <n1,n2,...>\n"
          "       stable_adamw check <threads> <lr> <beta1> <beta2> <eps> <weight_decay> <n1,...> <scale1,...>\n");
  return 2;
}

// The threads OpenMP really runs a parallel region with (it may give fewer than asked).
static int threads_running(void) {
  int running = 1;
#pragma omp parallel
#pragma omp single
  running = omp_get_num_threads();
  return running;
}

static int run_bench(int argc, char **argv, size_t *sizes) {
  if (argc != 4) return usage();
  int count = parse_sizes(argv[3], sizes);
  if (count <= 0) return usage();
  model_t model;
  open_model(&model, sizes, count);
  size_t params = 0;
  for (int i = 0; i < count; i++) params += sizes[i];
  hyper_t h = {1e-3, 0.9, 0.99, 1e-6, 0.01};
  printf("{\"ready\":true,\"threads\":%d,\"isa\":\"%s\",\"params\":%zu}\n", threads_running(), vector_isa(), params);
  fflush(stdout);
  char line[64];
  int t = 0;
  while (fgets(line, sizeof line, stdin)) {
    if (strncmp(line, "quit", 4) == 0) break;
    if (strncmp(line, "step", 4) != 0) {
      fprintf(stderr, "unknown command: %s", line);
      close_model(&model);
      return 2;
    }
    double started = now_seconds();
    step(&model, &h, ++t);
    printf("{\"seconds\":%.9g}\n", now_seconds() - started);
    fflush(stdout);
  }
  close_model(&model);
  return 0;
}

static int run_check(int argc, char **argv, size_t *sizes) {
  if (argc != 10) return usage();
  hyper_t h = {atof(argv[3]), atof(argv[4]), atof(argv[5]), atof(argv[6]), atof(argv[7])};
  int count = parse_sizes(argv[8], sizes);
  if (count <= 0) return usage();
  model_t model;
  open_model(&model, sizes, count);
  int t = 0;
  for (const char *s = argv[9]; *s;) {
    char *end;
    double scale = strtod(s, &end);
    if (end == s) return usage();
    t++;
    for (int i = 0; i < count; i++) {
      tensor_t *x = &model.tensors[i];
      seeded_values(x->g, x->n, 1000 * (uint32_t)t + (uint32_t)i, scale);
    }
    step(&model, &h, t);
    s = *end == ',' ? end + 1 : end;
  }
  printf("{\"threads\":%d,", threads_running());
  print_floats("params", &model, 0);
  printf(",");
  print_floats("expAvg", &model, 1);
  printf(",");
  print_floats("expAvgSq", &model, 2);
  printf("}\n");
  close_model(&model);
  return 0;
}

int main(int argc, char **argv) {
  static size_t sizes[MAX_TENSORS];
  if (argc < 3) return usage();
  int threads = atoi(argv[2]);
  if (threads < 1) return usage();
  omp_set_dynamic(0);
  omp_set_num_threads(threads);
  if (strcmp(argv[1], "bench") == 0) return run_bench(argc, argv, sizes);
  if (strcmp(argv[1], "check") == 0) return run_check(argc, argv, sizes);
  return usage();
}
