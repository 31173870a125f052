// optim_trace.cpp — test driver for check_optim_torch.py: runs np::Optimizer over a parameter
// arena and a fixed sequence of gradients and writes the values after every step. Not a
// user tool (no CLI parsing beyond three paths).
//
//   np_optim_trace CASE.txt DATA.bin OUT.bin
// CASE.txt, whitespace-separated:
//   lr beta1 beta2 eps weight_decay clip_norm
//   schedule_kind(0 constant, 1 cosine, 2 wsd) total_steps warmup_ratio decay_ratio min_lr_ratio
//   steps resume_at(-1: never; else serialize after that many steps and continue in a fresh
//   optimiser loaded from the bytes)
//   n_tensors, then per tensor: name group(0..3) trainable(0/1) decay(0/1) ndims dims...
// DATA.bin: float32 little-endian: initial values (total), then `steps` gradients (total each).
// OUT.bin: per step, float32 values (total) then the float64 pre-clip gradient norm.
// Muon is off: torch.optim has no Muon to compare with.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <vector>

#include "np/optim.h"

namespace {
int fail(const std::string& msg) {
  std::cerr << "np_optim_trace: " << msg << "\n";
  return 2;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) return fail("usage: np_optim_trace CASE.txt DATA.bin OUT.bin");
  std::ifstream in(argv[1]);
  np::OptimConfig c;
  c.muon.enabled = false;
  int kind = 0;
  long long steps = 0, resume_at = -1;
  size_t n_tensors = 0;
  in >> c.adamw.lr >> c.adamw.beta1 >> c.adamw.beta2 >> c.adamw.eps >> c.adamw.weight_decay >> c.clip_norm;
  in >> kind >> c.schedule.total_steps >> c.schedule.warmup_ratio >> c.schedule.decay_ratio >>
      c.schedule.min_lr_ratio;
  in >> steps >> resume_at >> n_tensors;
  if (!in) return fail("bad case header");
  c.schedule.kind = static_cast<np::ScheduleKind>(kind);
  np::ParamArena arena;
  for (size_t i = 0; i < n_tensors; ++i) {
    std::string name;
    int group = 0, trainable = 1, decay = 0, ndims = 0;
    in >> name >> group >> trainable >> decay >> ndims;
    std::vector<int64_t> shape(static_cast<size_t>(ndims > 0 ? ndims : 0));
    for (auto& d : shape) in >> d;
    if (!in) return fail("bad tensor line " + std::to_string(i));
    auto r = arena.add(name, shape, static_cast<np::ParamGroup>(group));
    if (!r.ok()) return fail(r.status().to_string());
    arena.set_trainable(r.value(), trainable != 0);
    arena.set_decay(r.value(), decay != 0);
  }
  const size_t total = arena.total_size();
  std::ifstream data(argv[2], std::ios::binary);
  auto read_floats = [&](float* dst) {
    data.read(reinterpret_cast<char*>(dst), static_cast<std::streamsize>(total * sizeof(float)));
    return static_cast<bool>(data);
  };
  if (!read_floats(arena.values())) return fail("short data (values)");
  auto made = np::Optimizer::create(arena, c);
  if (!made.ok()) return fail(made.status().to_string());
  np::Optimizer opt = made.take();
  std::ofstream out(argv[3], std::ios::binary);
  for (long long t = 0; t < steps; ++t) {
    if (t == resume_at) {
      const std::vector<uint8_t> bytes = opt.serialize();
      auto fresh = np::Optimizer::create(arena, c);
      if (!fresh.ok()) return fail(fresh.status().to_string());
      opt = fresh.take();
      const np::Status st = opt.deserialize(bytes);
      if (!st.ok()) return fail(st.to_string());
    }
    if (!read_floats(arena.grads())) return fail("short data (gradients of step " + std::to_string(t) + ")");
    np::StepInfo info;
    const np::Status st = opt.step(arena, &info);
    if (!st.ok()) return fail(st.to_string());
    out.write(reinterpret_cast<const char*>(arena.values()), static_cast<std::streamsize>(total * sizeof(float)));
    out.write(reinterpret_cast<const char*>(&info.grad_norm), sizeof(double));
  }
  if (!out) return fail("write failed");
  return 0;
}
