/* C API smoke test: version, an LSTM forward on a variable-length batch checked against a
 * straightforward C reference, a top-k with ties, and error codes with messages for bad
 * input. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chronoscale/chronoscale.h"

static int failures = 0;
#define EXPECT(cond)                                              \
  do {                                                            \
    if (!(cond)) {                                                \
      fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                 \
    }                                                             \
  } while (0)

static cs_tensor t3(double* p, int64_t a, int64_t b, int64_t c) {
  cs_tensor t = {p, CS_FLOAT64, CS_CPU, 3, {a, b, c, 0, 0, 0}};
  return t;
}
static cs_tensor t2(double* p, int64_t a, int64_t b) {
  cs_tensor t = {p, CS_FLOAT64, CS_CPU, 2, {a, b, 0, 0, 0, 0}};
  return t;
}
static double sig(double v) { return 1.0 / (1.0 + exp(-v)); }

int main(void) {
  enum { B = 2, T = 4, I = 3, H = 2, G = 4 };
  double x[B * T * I], w_ih[G * H * I], w_hh[G * H * H];
  int64_t len_data[B] = {4, 2};
  srand(7);
  for (int i = 0; i < B * T * I; ++i) x[i] = rand() / (double)RAND_MAX - 0.5;
  for (int i = 0; i < G * H * I; ++i) w_ih[i] = rand() / (double)RAND_MAX - 0.5;
  for (int i = 0; i < G * H * H; ++i) w_hh[i] = rand() / (double)RAND_MAX - 0.5;
  double y[B * T * H], h_n[B * H], c_n[B * H], gates[B * T * G * H], hprev[B * T * H],
      aux[B * T * H];
  cs_tensor X = t3(x, B, T, I), Wih = t2(w_ih, G * H, I), Whh = t2(w_hh, G * H, H);
  cs_tensor L = {len_data, CS_INT64, CS_CPU, 1, {B, 0, 0, 0, 0, 0}};
  cs_tensor Y = t3(y, B, T, H), Hn = t2(h_n, B, H), Cn = t2(c_n, B, H);
  cs_tensor Gt = t3(gates, B, T, G * H), Hp = t3(hprev, B, T, H), Ax = t3(aux, B, T, H);

  EXPECT(strlen(chronoscale_version()) >= 5);
  EXPECT(chronoscale_recurrent_forward(CS_LSTM, &X, &Wih, &Whh, NULL, NULL, NULL, NULL, &L, &Y,
                                       &Hn, &Cn, &Gt, &Hp, &Ax, NULL) == CS_OK);

  /* reference */
  for (int b = 0; b < B; ++b) {
    double h[H] = {0}, c[H] = {0};
    for (int t = 0; t < len_data[b]; ++t) {
      double g[G * H], hn[H];
      for (int k = 0; k < G * H; ++k) {
        g[k] = 0;
        for (int i = 0; i < I; ++i) g[k] += w_ih[k * I + i] * x[(b * T + t) * I + i];
        for (int j = 0; j < H; ++j) g[k] += w_hh[k * H + j] * h[j];
      }
      for (int j = 0; j < H; ++j) {
        c[j] = sig(g[H + j]) * c[j] + sig(g[j]) * tanh(g[2 * H + j]);
        hn[j] = sig(g[3 * H + j]) * tanh(c[j]);
      }
      for (int j = 0; j < H; ++j) {
        h[j] = hn[j];
        EXPECT(fabs(y[(b * T + t) * H + j] - h[j]) < 1e-12);
      }
    }
    for (int t = (int)len_data[b]; t < T; ++t)
      for (int j = 0; j < H; ++j) EXPECT(y[(b * T + t) * H + j] == 0.0);
    for (int j = 0; j < H; ++j) EXPECT(fabs(h_n[b * H + j] - h[j]) < 1e-12);
  }

  /* the thread's scratch freed; the next call takes new scratch and gives the same result */
  EXPECT(chronoscale_release_scratch() == CS_OK);
  double y_again[B * T * H];
  cs_tensor Y2 = t3(y_again, B, T, H);
  EXPECT(chronoscale_recurrent_forward(CS_LSTM, &X, &Wih, &Whh, NULL, NULL, NULL, NULL, &L, &Y2,
                                       &Hn, &Cn, &Gt, &Hp, &Ax, NULL) == CS_OK);
  EXPECT(memcmp(y, y_again, sizeof(y)) == 0);

  /* bad input: lengths > T, wrong dtype, NULL required argument */
  len_data[1] = T + 1;
  EXPECT(chronoscale_recurrent_forward(CS_LSTM, &X, &Wih, &Whh, NULL, NULL, NULL, NULL, &L, &Y,
                                       &Hn, &Cn, &Gt, &Hp, &Ax, NULL) == CS_ERR_VALUE);
  EXPECT(strstr(chronoscale_last_error(), "lengths[1]") != NULL);
  len_data[1] = 2;
  Wih.dtype = CS_FLOAT32;
  EXPECT(chronoscale_recurrent_forward(CS_LSTM, &X, &Wih, &Whh, NULL, NULL, NULL, NULL, &L, &Y,
                                       &Hn, &Cn, &Gt, &Hp, &Ax, NULL) == CS_ERR_TYPE);
  EXPECT(chronoscale_recurrent_forward(CS_LSTM, NULL, &Wih, &Whh, NULL, NULL, NULL, NULL, &L, &Y,
                                       &Hn, &Cn, &Gt, &Hp, &Ax, NULL) == CS_ERR_VALUE);
  EXPECT(strstr(chronoscale_last_error(), "x is required") != NULL);
  Wih.dtype = CS_FLOAT64;
  EXPECT(chronoscale_recurrent_forward((cs_cell)7, &X, &Wih, &Whh, NULL, NULL, NULL, NULL, &L, &Y,
                                       &Hn, &Cn, &Gt, &Hp, &Ax, NULL) == CS_ERR_VALUE);
  EXPECT(strstr(chronoscale_last_error(), "not a cs_cell value: 7") != NULL);
  /* aliased outputs (y over the cache's hprev; h_n over c_n) are refused, not computed wrong */
  EXPECT(chronoscale_recurrent_forward(CS_LSTM, &X, &Wih, &Whh, NULL, NULL, NULL, NULL, &L, &Hp,
                                       &Hn, &Cn, &Gt, &Hp, &Ax, NULL) == CS_ERR_VALUE);
  EXPECT(strstr(chronoscale_last_error(), "y and cache.hprev must be different arrays") != NULL);
  EXPECT(chronoscale_recurrent_forward(CS_LSTM, &X, &Wih, &Whh, NULL, NULL, NULL, NULL, &L, &Y, &Hn,
                                       &Hn, &Gt, &Hp, &Ax, NULL) == CS_ERR_VALUE);
  EXPECT(strstr(chronoscale_last_error(), "h_n and c_n must be different arrays") != NULL);
  EXPECT(chronoscale_recurrent_forward((cs_cell)-1, &X, &Wih, &Whh, NULL, NULL, NULL, NULL, &L, &Y,
                                       &Hn, &Cn, &Gt, &Hp, &Ax, NULL) == CS_ERR_VALUE);

  /* top-k: best first, ties by lower column, NaN last */
  double sc[2 * 6] = {1, 3, 3, -INFINITY, 2, 3, 0, -1, 5, NAN, 5, -0.0}, vals[2 * 3];
  int64_t ids[2 * 3], want_ids[2 * 3] = {1, 2, 5, 2, 4, 0};
  double want_vals[2 * 3] = {3, 3, 3, 5, 5, 0};
  cs_tensor S = t2(sc, 2, 6), Vt = t2(vals, 2, 3);
  cs_tensor Id = {ids, CS_INT64, CS_CPU, 2, {2, 3, 0, 0, 0, 0}};
  EXPECT(chronoscale_top_k(&S, 3, &Id, &Vt, NULL) == CS_OK);
  for (int i = 0; i < 2 * 3; ++i) EXPECT(ids[i] == want_ids[i] && vals[i] == want_vals[i]);
  EXPECT(chronoscale_top_k(&S, 7, &Id, &Vt, NULL) == CS_ERR_VALUE);
  EXPECT(strstr(chronoscale_last_error(), "k must be in [1, V = 6]") != NULL);

  /* shapes whose element count overflows, negative dims, a hidden size past the BLAS range:
   * refused (a wrapped count let NULL data through: a segfault) */
  cs_tensor Huge = {NULL, CS_FLOAT64, CS_CPU, 2, {(int64_t)1 << 62, 4, 0, 0, 0, 0}};
  EXPECT(chronoscale_top_k(&Huge, 1, &Id, &Vt, NULL) == CS_ERR_VALUE);
  EXPECT(strstr(chronoscale_last_error(), "scores: cs_tensor.shape") != NULL); /* names it */
  EXPECT(strstr(chronoscale_last_error(), "does not fit in int64") != NULL);
  cs_tensor Neg = t2(sc, -2, 6);
  EXPECT(chronoscale_top_k(&Neg, 3, &Id, &Vt, NULL) == CS_ERR_VALUE);
  EXPECT(strstr(chronoscale_last_error(), "must be >= 0") != NULL);
  cs_tensor BigWhh = {NULL, CS_FLOAT64, CS_CPU, 2, {0, (int64_t)1 << 62, 0, 0, 0, 0}};
  Wih.dtype = CS_FLOAT64;
  EXPECT(chronoscale_recurrent_forward(CS_LSTM, &X, &Wih, &BigWhh, NULL, NULL, NULL, NULL, &L, &Y,
                                       &Hn, &Cn, &Gt, &Hp, &Ax, NULL) == CS_ERR_VALUE);
  EXPECT(strstr(chronoscale_last_error(), "too large") != NULL);

  /* top-k outputs that alias the scores are refused (they were written while read) */
  cs_tensor Alias = t2(sc, 2, 3);
  EXPECT(chronoscale_top_k(&S, 3, &Id, &Alias, NULL) == CS_ERR_VALUE);
  EXPECT(strstr(chronoscale_last_error(), "share memory") != NULL);

  if (failures) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  printf("test_c_api: all checks passed\n");
  return 0;
}
