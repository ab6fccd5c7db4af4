#pragma once
// The only code that includes libsentencepiece's headers. They declare
// `namespace absl { using std::string_view; }`, which collides with Debian's
// Abseil 20220623 (where absl::string_view is its own class), so no
// translation unit may include both. This interface therefore uses the
// standard library only; errors come back as text, and the callers turn them
// into absl::Status.

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace expsvc::lm::spm_bridge {

// A loaded SentencePiece model.
class Processor {
 public:
  // nullptr and `*error` set when `serialized_model` does not load.
  static std::unique_ptr<Processor> Load(const std::string& serialized_model, std::string* error);
  ~Processor();

  bool Encode(std::string_view text, std::vector<int>* ids, std::string* error) const;
  bool Decode(const std::vector<int>& ids, std::string* text, std::string* error) const;

  int piece_count() const;
  // `id` must be in [0, piece_count()).
  std::string Piece(int id) const;
  int unk_id() const;
  int bos_id() const;  // -1 when absent
  int eos_id() const;
  int pad_id() const;

 private:
  struct Impl;
  explicit Processor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Trains a model with trainer flags (name → value, as spm_train takes them)
// on `sentences`. Returns false and sets `*error` on failure.
bool Train(const std::vector<std::pair<std::string, std::string>>& flags, const std::vector<std::string>& sentences,
           unsigned int random_seed, std::string* serialized_model, std::string* error);

}  // namespace expsvc::lm::spm_bridge
