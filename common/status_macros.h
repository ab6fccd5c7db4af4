#pragma once
// Debian's Abseil (20220623) ships no RETURN_IF_ERROR / ASSIGN_OR_RETURN;
// these are the two small macros every fallible path uses.

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define EXPSVC_CONCAT_INNER(a, b) a##b
#define EXPSVC_CONCAT(a, b) EXPSVC_CONCAT_INNER(a, b)

#define EXPSVC_RETURN_IF_ERROR(expr)                                  \
  do {                                                                \
    if (absl::Status _expsvc_status = (expr); !_expsvc_status.ok()) { \
      return _expsvc_status;                                          \
    }                                                                 \
  } while (false)

#define EXPSVC_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return std::move(tmp).status();     \
  lhs = std::move(*tmp)

#define EXPSVC_ASSIGN_OR_RETURN(lhs, expr) \
  EXPSVC_ASSIGN_OR_RETURN_IMPL(EXPSVC_CONCAT(_expsvc_statusor_, __LINE__), lhs, expr)
