// No Abseil header may be included here (see sentencepiece_bridge.h).
#include "worker/lm/tokenizer/sentencepiece_bridge.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <mutex>
#include <unordered_map>

namespace expsvc::lm::spm_bridge {
namespace {

class VectorSentenceIterator : public sentencepiece::SentenceIterator {
 public:
  explicit VectorSentenceIterator(const std::vector<std::string>& sentences) : sentences_(sentences) {}
  bool done() const override { return index_ >= sentences_.size(); }
  void Next() override { ++index_; }
  const std::string& value() const override { return sentences_[index_]; }
  sentencepiece::util::Status status() const override { return sentencepiece::util::Status(); }

 private:
  const std::vector<std::string>& sentences_;
  size_t index_ = 0;
};

}  // namespace

struct Processor::Impl {
  sentencepiece::SentencePieceProcessor processor;
};

Processor::Processor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Processor::~Processor() = default;

std::unique_ptr<Processor> Processor::Load(const std::string& serialized_model, std::string* error) {
  auto impl = std::make_unique<Impl>();
  const sentencepiece::util::Status status = impl->processor.LoadFromSerializedProto(serialized_model);
  if (!status.ok()) {
    *error = status.ToString();
    return nullptr;
  }
  return std::unique_ptr<Processor>(new Processor(std::move(impl)));
}

bool Processor::Encode(std::string_view text, std::vector<int>* ids, std::string* error) const {
  const sentencepiece::util::Status status = impl_->processor.Encode(text, ids);
  if (!status.ok()) *error = status.ToString();
  return status.ok();
}

bool Processor::Decode(const std::vector<int>& ids, std::string* text, std::string* error) const {
  const sentencepiece::util::Status status = impl_->processor.Decode(ids, text);
  if (!status.ok()) *error = status.ToString();
  return status.ok();
}

int Processor::piece_count() const {
  return impl_->processor.GetPieceSize();
}
std::string Processor::Piece(int id) const {
  return impl_->processor.IdToPiece(id);
}
int Processor::unk_id() const {
  return impl_->processor.unk_id();
}
int Processor::bos_id() const {
  return impl_->processor.bos_id();
}
int Processor::eos_id() const {
  return impl_->processor.eos_id();
}
int Processor::pad_id() const {
  return impl_->processor.pad_id();
}

bool Train(const std::vector<std::pair<std::string, std::string>>& flags, const std::vector<std::string>& sentences,
           unsigned int random_seed, std::string* serialized_model, std::string* error) {
  // The seed and the trainer's logging level are process-wide in
  // SentencePiece; one training at a time keeps them ours.
  static std::mutex training;
  std::lock_guard<std::mutex> lock(training);
  sentencepiece::SetRandomGeneratorSeed(random_seed);
  std::unordered_map<std::string, std::string> arguments(flags.begin(), flags.end());
  VectorSentenceIterator iterator(sentences);
  const sentencepiece::util::Status status =
      sentencepiece::SentencePieceTrainer::Train(arguments, &iterator, serialized_model);
  if (!status.ok()) {
    *error = status.ToString();
    return false;
  }
  return true;
}

}  // namespace expsvc::lm::spm_bridge
