#pragma once
// Job log lines waiting to be sent, handed out in batches that fit one
// AppendLogs call (bounded by line count and by bytes, so a chatty job never
// builds a message over gRPC's size limit). Not synchronized: the owner
// (LeasedJobContext) guards it.

#include <cstddef>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace expsvc::worker {

class LogBuffer {
 public:
  // Longer lines are cut here and marked, rather than dropped.
  static constexpr size_t kMaxLineBytes = 64 * 1024;

  void Add(std::string_view line);
  // Removes and returns the oldest lines: at most `max_lines`, and at most
  // `max_bytes` in total unless a single line is larger.
  std::vector<std::string> Take(size_t max_lines, size_t max_bytes);

  size_t size() const { return lines_.size(); }
  bool empty() const { return lines_.empty(); }

 private:
  std::deque<std::string> lines_;
};

}  // namespace expsvc::worker
