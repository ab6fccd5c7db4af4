#pragma once
// The short names the attention benches (CPU and GPU) use in their
// key=value lines, so their results join: attn, relattn, ripo, cirrel_s,
// cirrel_h.

#include <string>

#include "worker/music/model/attention.h"

namespace expsvc::bench {

inline std::string AttentionKey(music::AttentionKind kind) {
  switch (kind) {
    case music::AttentionKind::kAttn: return "attn";
    case music::AttentionKind::kRelAttn: return "relattn";
    case music::AttentionKind::kRipoAttn: return "ripo";
    case music::AttentionKind::kCirRelAttnS: return "cirrel_s";
    case music::AttentionKind::kCirRelAttnH: return "cirrel_h";
  }
  return "unknown";
}

}  // namespace expsvc::bench
