#include "worker/runtime/log_buffer.h"

#include <utility>

namespace expsvc::worker {

void LogBuffer::Add(std::string_view line) {
  if (line.size() <= kMaxLineBytes) {
    lines_.emplace_back(line);
    return;
  }
  std::string cut(line.substr(0, kMaxLineBytes));
  cut += " [line truncated]";
  lines_.push_back(std::move(cut));
}

std::vector<std::string> LogBuffer::Take(size_t max_lines, size_t max_bytes) {
  std::vector<std::string> batch;
  size_t bytes = 0;
  while (!lines_.empty() && batch.size() < max_lines) {
    size_t line_bytes = lines_.front().size();
    if (!batch.empty() && bytes + line_bytes > max_bytes) break;
    bytes += line_bytes;
    batch.push_back(std::move(lines_.front()));
    lines_.pop_front();
  }
  return batch;
}

}  // namespace expsvc::worker
