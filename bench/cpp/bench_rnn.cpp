// Native benchmark of the CPU recurrent kernels: recurrent_forward + recurrent_backward (LSTM,
// GRU; float32; full lengths) on chronoscale_core directly, no Python. Warm-up, then the median
// (and minimum) wall time of --repeat runs per size, and the median process CPU time (all
// threads: shows spinning or oversubscription).
//
//   bench_rnn [--cells lstm,gru] [--sizes quick|full|"B,T,H;B,T,H"] [--input 64] [--repeat 11]
//             [--warmup 2] [--threads N] [--blas PATH] [--json FILE]
//
// The BLAS comes from --blas PATH, else $CHRONOSCALE_BLAS_LIB, else the usual sonames.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "chronoscale/recurrent.hpp"
#include "chronoscale/runtime.hpp"

using namespace chronoscale;

namespace {

struct Size {
  int64_t B, T, H;
};

std::vector<Size> parse_sizes(const std::string& s) {
  std::vector<Size> out;
  if (s == "full" || s == "quick") {
    if (s == "quick") return {{1, 50, 64}, {1, 50, 256}, {64, 50, 128}, {256, 50, 256}};
    for (int64_t b : {1, 64, 256})
      for (int64_t t : {50, 200})
        for (int64_t h : {64, 128, 256}) out.push_back({b, t, h});
    return out;
  }
  size_t pos = 0;
  while (pos < s.size()) {
    size_t end = s.find(';', pos);
    if (end == std::string::npos) end = s.size();
    Size z{};
    if (std::sscanf(s.substr(pos, end - pos).c_str(), "%ld,%ld,%ld", &z.B, &z.T, &z.H) != 3) {
      std::fprintf(stderr, "bad size '%s' (want B,T,H)\n", s.substr(pos, end - pos).c_str());
      std::exit(2);
    }
    out.push_back(z);
    pos = end + 1;
  }
  return out;
}

struct Buf {  // a float32 array and its view
  std::vector<float> v;
  Tensor t;
  Buf() = default;
  Buf(std::initializer_list<int64_t> dims, std::mt19937* rng = nullptr, float scale = 1.0f) {
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    v.assign(n, 0.0f);
    if (rng) {
      std::uniform_real_distribution<float> u(-scale, scale);
      for (auto& e : v) e = u(*rng);
    }
    t = Tensor(v.data(), DType::float32, dims);
  }
};

struct Result {
  std::string cell;
  Size s;
  double median_ms, min_ms, cpu_ms;  // cpu_ms: median process CPU time (all threads)
  int repeat;
};

double cpu_now_ms() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 +
         (u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-3;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

Result run(Cell cell, const char* name, Size s, int64_t I, int repeat, int warmup) {
  const int64_t B = s.B, T = s.T, H = s.H, G = gate_count(cell), GH = G * H;
  const float k = 1.0f / std::sqrt(float(H));
  std::mt19937 rng(7);
  Buf x({B, T, I}, &rng), w_ih({GH, I}, &rng, k), w_hh({GH, H}, &rng, k), b_ih({GH}, &rng, k),
      b_hh({GH}, &rng, k), dy({B, T, H}, &rng);
  Buf y({B, T, H}), h_n({B, H}), c_n({B, H}), gates({B, T, GH}), hprev({B, T, H}), aux({B, T, H});
  Buf dx({B, T, I}), dw_ih({GH, I}), dw_hh({GH, H}), db_ih({GH}), db_hh({GH}), dh0({B, H}),
      dc0({B, H});
  const bool lstm = cell == Cell::lstm;
  RecurrentInputs in{x.t, w_ih.t, w_hh.t, b_ih.t, b_hh.t, {}, {}, {}};
  RecurrentOutputs out{y.t, h_n.t, lstm ? c_n.t : Tensor{}, {gates.t, hprev.t, aux.t}};
  RecurrentGrads g{dx.t, dw_ih.t, dw_hh.t, db_ih.t, db_hh.t, dh0.t, lstm ? dc0.t : Tensor{}};
  auto once = [&] {
    recurrent_forward(cell, in, out);
    recurrent_backward(cell, dy.t, {}, {}, in, out, g);
  };
  for (int i = 0; i < warmup; ++i) once();
  std::vector<double> ms, cpu;
  for (int i = 0; i < repeat; ++i) {
    const double c0 = cpu_now_ms();
    const auto t0 = std::chrono::steady_clock::now();
    once();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                     .count());
    cpu.push_back(cpu_now_ms() - c0);
  }
  return {name, s, median(ms), *std::min_element(ms.begin(), ms.end()), median(cpu), repeat};
}

std::string arg(int argc, char** argv, const char* key, const char* def) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], key) == 0) return argv[i + 1];
  return def;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (!std::strcmp(argv[i], "-h") || !std::strcmp(argv[i], "--help")) {
      std::printf("usage: bench_rnn [--cells lstm,gru] [--sizes quick|full|'B,T,H;...'] "
                  "[--input 64] [--repeat 11] [--warmup 2] [--threads N] [--blas PATH] "
                  "[--json FILE]\n");
      return 0;
    }
  try {
    const std::string blas = arg(argc, argv, "--blas", "");
    if (!blas.empty()) load_blas(blas);
    else if (const char* env = std::getenv("CHRONOSCALE_BLAS_LIB")) load_blas(env);
    const int threads = std::atoi(arg(argc, argv, "--threads", "0").c_str());
    if (threads > 0) set_num_threads(threads);
    const int repeat = std::max(1, std::atoi(arg(argc, argv, "--repeat", "11").c_str()));
    const int warmup = std::max(0, std::atoi(arg(argc, argv, "--warmup", "2").c_str()));
    const int64_t I = std::atol(arg(argc, argv, "--input", "64").c_str());
    const auto sizes = parse_sizes(arg(argc, argv, "--sizes", "quick"));
    const std::string cells = arg(argc, argv, "--cells", "lstm,gru");
    std::printf("# blas=%s (%s) threads=%d\n# build %s\n", blas_name().c_str(),
                blas_path().c_str(), get_num_threads(), build_info_json().c_str());
    std::printf("%-5s %5s %5s %5s %5s %12s %12s %12s\n", "cell", "B", "T", "I", "H", "median_ms",
                "min_ms", "cpu_ms");
    std::vector<Result> results;
    for (const char* name : {"lstm", "gru"}) {
      if (cells.find(name) == std::string::npos) continue;
      const Cell cell = std::strcmp(name, "lstm") == 0 ? Cell::lstm : Cell::gru;
      for (const Size& s : sizes) {
        results.push_back(run(cell, name, s, I, repeat, warmup));
        const Result& r = results.back();
        std::printf("%-5s %5ld %5ld %5ld %5ld %12.3f %12.3f %12.3f\n", name, s.B, s.T, I, s.H,
                    r.median_ms, r.min_ms, r.cpu_ms);
        std::fflush(stdout);
      }
    }
    const std::string json = arg(argc, argv, "--json", "");
    if (!json.empty()) {
      FILE* f = std::fopen(json.c_str(), "w");
      if (!f) throw ValueError("cannot write --json file " + json);
      std::fprintf(f, "{\"blas\": \"%s\", \"blas_path\": \"%s\", \"threads\": %d,\n \"build\": %s,\n"
                      " \"rows\": [\n", blas_name().c_str(), blas_path().c_str(),
                   get_num_threads(), build_info_json().c_str());
      for (size_t i = 0; i < results.size(); ++i) {
        const Result& r = results[i];
        std::fprintf(f, "  {\"cell\": \"%s\", \"B\": %ld, \"T\": %ld, \"I\": %ld, \"H\": %ld, "
                        "\"median_ms\": %.4f, \"min_ms\": %.4f, \"cpu_ms\": %.4f, \"repeat\": %d}%s\n",
                     r.cell.c_str(), r.s.B, r.s.T, I, r.s.H, r.median_ms, r.min_ms, r.cpu_ms,
                     r.repeat,
                     i + 1 < results.size() ? "," : "");
      }
      std::fprintf(f, " ]}\n");
      std::fclose(f);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_rnn: %s\n", e.what());
    return 1;
  }
  return 0;
}
