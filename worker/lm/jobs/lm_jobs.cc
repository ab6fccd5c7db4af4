#include "worker/lm/jobs/lm_jobs.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <numbers>
#include <string_view>
#include <thread>

#include <torch/torch.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/kinds/lm_kinds.h"
#include "common/splitmix64.h"
#include "common/status_macros.h"
#include "worker/lm/corpus/corpus_file_format.h"
#include "worker/lm/model/llama_checkpoint.h"
#include "worker/lm/model/llama_model.h"
#include "worker/lm/model/model_tokenizer_check.h"
#include "worker/lm/model/models_dir.h"
#include "worker/lm/tokenizer/tokenizer_identity.h"
#include "worker/runtime/tool_process.h"
#include "worker/torch/torch_job_support.h"

namespace expsvc::worker {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using lm::Language;
using lm::Split;

constexpr char kCorpusArtifact[] = "corpus.bin";
constexpr char kTokenizerModelArtifact[] = "tokenizer.model";
constexpr char kTokenizerJsonArtifact[] = "tokenizer.json";
constexpr char kResumeArtifact[] = "resume.pt";

// ---- build_corpus ----

absl::Status BuildCorpus(JobContext& context) {
  EXPSVC_ASSIGN_OR_RETURN(const kinds::BuildCorpusParams params, kinds::BuildCorpusParams::FromJson(context.params()));
  EXPSVC_ASSIGN_OR_RETURN(
      std::string tool,
      FindProjectTool("EXPSVC_LM_CORPUS_TOOL",
                      {"expsvc-lm-corpus-stats", "lm/corpus/expsvc-lm-corpus-stats", "../corpus/expsvc-lm-corpus-stats",
                       "worker/lm/corpus/expsvc-lm-corpus-stats"}));
  const std::string output = absl::StrCat(context.scratch_dir(), "/corpus");
  std::vector<std::string> argv = {tool,
                                   absl::StrCat("--output=", output),
                                   absl::StrCat("--vocab_size=", params.vocab_size),
                                   absl::StrCat("--tokens_per_window=", params.tokens_per_window),
                                   absl::StrCat("--seed=", params.split_seed),
                                   absl::StrCat("--threads=", std::max<int64_t>(1, params.threads))};
  const std::string source = params.source;
  if (source == "debian_reference") {
    const std::string folder = params.debian_reference_dir;
    if (!folder.empty()) argv.push_back(absl::StrCat("--debian_reference_dir=", folder));
  } else if (source == "text_folders") {
    const std::string root = params.text_dir;
    if (root.empty()) return absl::InvalidArgumentError("source 'text_folders' needs text_dir (holding en/ and ja/)");
    argv.push_back(absl::StrCat("--text_folder=", root));
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unknown source '", source, "'"));
  }
  if (!params.tokenizer.empty()) {
    // Resolved here, on the worker, where EXPSVC_MODELS_DIR is set.
    EXPSVC_ASSIGN_OR_RETURN(const fs::path resolved, lm::ResolveModelPath(params.tokenizer));
    EXPSVC_ASSIGN_OR_RETURN(const fs::path tokenizer_file, lm::FindModelTokenizerFile(resolved));
    context.Log(absl::StrCat("tokenizer '", params.tokenizer, "': ", tokenizer_file.string()));
    argv.push_back(absl::StrCat("--tokenizer=", tokenizer_file.string()));
  }
  const auto started = std::chrono::steady_clock::now();
  EXPSVC_RETURN_IF_ERROR(RunToolProcess(context, argv));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  // The numbers come from the file itself, so they describe what is stored.
  const std::string corpus_path = absl::StrCat(output, "/", kCorpusArtifact);
  EXPSVC_ASSIGN_OR_RETURN(lm::LmCorpus corpus, lm::ReadCorpusFile(corpus_path));
  for (Split split : lm::kAllSplits) {
    for (Language language : {Language::kEnglish, Language::kJapanese}) {
      int64_t documents = 0;
      for (const lm::CorpusDocumentInfo& document : corpus.documents()) {
        documents += document.split == split && document.language == language;
      }
      const int64_t windows = corpus.window_count(split, language);
      const std::string suffix = absl::StrCat(lm::SplitName(split), "_", lm::LanguageCode(language));
      context.ReportMetric(absl::StrCat("documents_", suffix), 0, static_cast<double>(documents));
      context.ReportMetric(absl::StrCat("windows_", suffix), 0, static_cast<double>(windows));
    }
  }
  context.ReportMetric("vocab_size", 0, corpus.vocab_size());
  context.ReportMetric("build_seconds", 0, seconds);
  context.Log(absl::StrCat("tokenizer identity ", corpus.tokenizer_identity()));
  EXPSVC_RETURN_IF_ERROR(context.UploadArtifact(kCorpusArtifact, corpus_path).status());
  for (const char* name : {kTokenizerModelArtifact, kTokenizerJsonArtifact}) {
    // An existing tokenizer.json comes without a tokenizer.model.
    const std::string path = absl::StrCat(output, "/tokenizer/", name);
    if (std::string_view(name) == kTokenizerModelArtifact && !params.tokenizer.empty() && !fs::exists(path)) continue;
    EXPSVC_RETURN_IF_ERROR(context.UploadArtifact(name, path).status());
  }
  return absl::OkStatus();
}

// ---- train_lm ----

using kinds::TrainLmParams;

double LearningRate(const TrainLmParams& p, int64_t step) {
  if (step < p.warmup_steps) return p.lr * static_cast<double>(step + 1) / static_cast<double>(p.warmup_steps);
  const double progress =
      static_cast<double>(step - p.warmup_steps) / static_cast<double>(std::max<int64_t>(1, p.steps - p.warmup_steps));
  return p.lr * (0.1 + 0.9 * 0.5 * (1 + std::cos(std::numbers::pi * std::clamp(progress, 0.0, 1.0))));
}

// [B, L] token ids of the given windows of a split.
torch::Tensor WindowBatch(const lm::LmCorpus& corpus, Split split, const std::vector<int64_t>& indices) {
  const int64_t length = corpus.window_length();
  torch::Tensor tokens = torch::empty({static_cast<int64_t>(indices.size()), length}, torch::kLong);
  int64_t* data = tokens.data_ptr<int64_t>();
  for (size_t b = 0; b < indices.size(); ++b) {
    const lm::CorpusWindow window = corpus.window(split, indices[b]);
    std::copy(window.tokens.begin(), window.tokens.end(), data + static_cast<int64_t>(b) * length);
  }
  return tokens;
}

// Mean next-token loss of every position after BOS.
torch::Tensor NextTokenLoss(lm::LlamaModel& model, const torch::Tensor& tokens) {
  lm::LlamaForwardOptions options;
  const lm::LlamaForwardOutput output = model->forward(tokens, options);
  const int64_t length = tokens.size(1);
  const torch::Tensor logits = output.logits.narrow(1, 0, length - 1);
  const torch::Tensor targets = tokens.narrow(1, 1, length - 1);
  return torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(-1)}), targets.reshape({-1}));
}

// Mean loss per language over the first eval_windows windows of each
// language in the valid split.
std::map<Language, double> ValidationLoss(lm::LlamaModel& model, const lm::LmCorpus& corpus, const TrainLmParams& p,
                                          const torch::Device& device) {
  torch::NoGradGuard no_grad;
  model->eval();
  std::map<Language, std::vector<int64_t>> by_language;
  for (int64_t i = 0; i < corpus.window_count(Split::kValid); ++i) {
    std::vector<int64_t>& list = by_language[corpus.window(Split::kValid, i).language];
    if (p.eval_windows <= 0 || static_cast<int64_t>(list.size()) < p.eval_windows) list.push_back(i);
  }
  std::map<Language, double> losses;
  for (const auto& [language, indices] : by_language) {
    double sum = 0;
    for (size_t start = 0; start < indices.size(); start += static_cast<size_t>(p.batch_size)) {
      const std::vector<int64_t> chunk(
          indices.begin() + static_cast<int64_t>(start),
          indices.begin() + static_cast<int64_t>(std::min(indices.size(), start + p.batch_size)));
      sum += NextTokenLoss(model, WindowBatch(corpus, Split::kValid, chunk).to(device)).item<double>() *
             static_cast<double>(chunk.size());
    }
    losses[language] = sum / static_cast<double>(indices.size());
  }
  model->train();
  return losses;
}

absl::StatusOr<std::string> FetchParent(JobContext& context, const char* name) {
  std::optional<expsvc::v1::ArtifactRef> artifact = context.FindParentArtifact(name);
  if (!artifact.has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat("no parent job has an artifact '", name, "': train_lm must depend on a build_corpus job"));
  }
  return context.FetchArtifact(*artifact);
}

absl::Status CopyFile(const std::string& from, const std::string& to) {
  std::error_code error;
  fs::copy_file(from, to, fs::copy_options::overwrite_existing, error);
  if (error) return absl::InternalError(absl::StrCat("copy ", from, " to ", to, ": ", error.message()));
  return absl::OkStatus();
}

// The parent's tokenizer files under their own names in `folder`
// (tokenizer.json always; tokenizer.model unless the corpus was built from
// a tokenizer.json alone), and their identity, which must be the corpus's.
struct TrainingTokenizer {
  std::vector<std::string> files;
  std::string identity;
};

absl::StatusOr<TrainingTokenizer> FetchTokenizer(JobContext& context, const lm::LmCorpus& corpus,
                                                 const std::string& folder) {
  std::error_code error;
  fs::create_directories(folder, error);
  if (error) return absl::InternalError(absl::StrCat("create ", folder, ": ", error.message()));
  TrainingTokenizer tokenizer;
  for (const char* name : {kTokenizerModelArtifact, kTokenizerJsonArtifact}) {
    if (std::string_view(name) == kTokenizerModelArtifact && !context.FindParentArtifact(name).has_value()) continue;
    EXPSVC_ASSIGN_OR_RETURN(const std::string fetched, FetchParent(context, name));
    tokenizer.files.push_back(absl::StrCat(folder, "/", name));
    EXPSVC_RETURN_IF_ERROR(CopyFile(fetched, tokenizer.files.back()));
  }
  EXPSVC_ASSIGN_OR_RETURN(tokenizer.identity, lm::TokenizerIdentityOfFile(tokenizer.files.front()));
  if (!corpus.tokenizer_identity().empty() && corpus.tokenizer_identity() != tokenizer.identity) {
    return absl::FailedPreconditionError(
        absl::StrCat("the parent's corpus.bin was tokenised with tokenizer ",
                     lm::ShortTokenizerIdentity(corpus.tokenizer_identity()), " but its ",
                     fs::path(tokenizer.files.front()).filename().string(), " is tokenizer ",
                     lm::ShortTokenizerIdentity(tokenizer.identity)));
  }
  return tokenizer;
}

absl::Status TrainLm(JobContext& context) {
  EXPSVC_ASSIGN_OR_RETURN(const TrainLmParams p, TrainLmParams::FromJson(context.params()));
  // Ranges (sizes ≥ 1, counts ≥ 0) were checked against the catalog by FromJson.
  if (p.hidden % p.heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat("heads (", p.heads, ") must divide hidden (", p.hidden, ")"));
  }
  const int64_t kv_heads = p.kv_heads > 0 ? p.kv_heads : p.heads;
  if (p.heads % kv_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat("kv_heads (", kv_heads, ") must divide heads (", p.heads, ")"));
  }
  EXPSVC_ASSIGN_OR_RETURN(std::vector<int64_t> checkpoint_steps, CheckpointSteps(p.steps, p.checkpoint_steps));
  EXPSVC_ASSIGN_OR_RETURN(const torch::Device device, SelectDevice(p.device, context));
  SetTorchThreads(p.threads);

  EXPSVC_ASSIGN_OR_RETURN(std::string corpus_path, FetchParent(context, kCorpusArtifact));
  EXPSVC_ASSIGN_OR_RETURN(lm::LmCorpus corpus, lm::ReadCorpusFile(corpus_path));
  const std::string scratch = context.scratch_dir();
  EXPSVC_ASSIGN_OR_RETURN(const TrainingTokenizer tokenizer, FetchTokenizer(context, corpus, scratch + "/tokenizer"));
  const int64_t train_windows = corpus.window_count(Split::kTrain);
  if (train_windows == 0 || corpus.window_count(Split::kValid) == 0) {
    return absl::FailedPreconditionError("the corpus has no training or no validation windows");
  }

  lm::LlamaConfig config;
  config.vocab_size = corpus.vocab_size();
  config.hidden_size = p.hidden;
  // SwiGLU width: 8/3 of the hidden size rounded up to a multiple of 64
  // (LLM-jp's 2048 → 7168 is 3.5×; any value loads).
  config.intermediate_size = p.ffn > 0 ? p.ffn : (p.hidden * 8 / 3 + 63) / 64 * 64;
  config.num_hidden_layers = p.layers;
  config.num_attention_heads = p.heads;
  config.num_key_value_heads = kv_heads;
  config.rms_norm_eps = 1e-5;
  config.rope_theta = 10000.0;
  config.max_position_embeddings = std::max<int64_t>(corpus.window_length(), 128);
  config.tie_word_embeddings = false;
  config.bos_token_id = corpus.bos_id();
  config.torch_dtype = "float32";
  torch::manual_seed(static_cast<uint64_t>(p.seed));
  EXPSVC_ASSIGN_OR_RETURN(lm::LlamaModel model, lm::CreateLlamaModel(config));
  model->to(device);
  torch::optim::AdamW optimizer(model->parameters(), torch::optim::AdamWOptions(p.lr).weight_decay(p.weight_decay));
  int64_t parameters = 0;
  for (const torch::Tensor& t : model->parameters()) parameters += t.numel();
  context.ReportMetric("params", 0, static_cast<double>(parameters));
  context.Log(
      absl::StrFormat("model: %d layers, hidden %d, %d heads (%d kv), ffn %d, vocab %d: %d parameters; "
                      "%d training windows of %d tokens; %d steps of %d windows on %s",
                      p.layers, p.hidden, p.heads, kv_heads, config.intermediate_size, config.vocab_size, parameters,
                      train_windows, corpus.window_length(), p.steps, p.batch_size, device.str()));
  context.Log(absl::StrCat("checkpoints at steps ", absl::StrJoin(checkpoint_steps, ", ")));

  context.Log(absl::StrCat("tokenizer identity ", tokenizer.identity));

  // Resume.
  const std::string resume_path = absl::StrCat(scratch, "/", kResumeArtifact);
  int64_t start_step = 0;
  if (auto resume = context.FindOwnArtifact(kResumeArtifact); resume.has_value()) {
    EXPSVC_ASSIGN_OR_RETURN(std::string path, context.FetchArtifact(*resume));
    EXPSVC_ASSIGN_OR_RETURN(TrainingState loaded, LoadTrainingState(path, *model, optimizer, device));
    start_step = loaded.step;
    EXPSVC_RETURN_IF_ERROR(context.ReplaceMetricsAfter(start_step));
    context.Log(absl::StrCat("resuming at step ", start_step));
  } else {
    for (const std::string& file : tokenizer.files) {
      EXPSVC_RETURN_IF_ERROR(context.UploadArtifact(fs::path(file).filename().string(), file).status());
    }
  }
  const auto save_resume = [&](int64_t step) -> absl::Status {
    EXPSVC_RETURN_IF_ERROR(SaveTrainingState(resume_path, *model, optimizer, {step, {}}));
    return context.UploadArtifact(kResumeArtifact, resume_path).status();
  };
  const auto evaluate = [&](int64_t step) {
    for (const auto& [language, loss] : ValidationLoss(model, corpus, p, device)) {
      const std::string code = lm::LanguageCode(language);
      context.ReportMetric(absl::StrCat("valid_loss_", code), step, loss);
      context.ReportMetric(absl::StrCat("valid_ppl_", code), step, std::exp(loss));
    }
  };
  const auto save_checkpoint = [&](int64_t step) -> absl::Status {
    const std::string name = lm::CheckpointFolderName(step);
    const std::string folder = absl::StrCat(scratch, "/", name);
    // The identity in the weights' metadata names the tokenizer even where
    // the folder travels without its tokenizer files (the artifacts).
    EXPSVC_RETURN_IF_ERROR(
        lm::SaveLlamaModel(model, folder, {.metadata = {{lm::kTokenizerIdentityMetadataKey, tokenizer.identity}}}));
    for (const std::string& file : tokenizer.files) {
      EXPSVC_RETURN_IF_ERROR(CopyFile(file, absl::StrCat(folder, "/", fs::path(file).filename().string())));
    }
    for (const char* file : {"config.json", "model.safetensors"}) {
      EXPSVC_RETURN_IF_ERROR(
          context.UploadArtifact(absl::StrCat(name, ".", file), absl::StrCat(folder, "/", file)).status());
    }
    if (!p.checkpoint_dir.empty()) {
      std::error_code error;
      fs::create_directories(p.checkpoint_dir, error);
      fs::copy(folder, absl::StrCat(p.checkpoint_dir, "/", name),
               fs::copy_options::recursive | fs::copy_options::overwrite_existing, error);
      if (error)
        return absl::InternalError(absl::StrCat("copy ", folder, " to ", p.checkpoint_dir, ": ", error.message()));
    }
    fs::remove_all(folder);
    context.ReportMetric("checkpoint", step, static_cast<double>(step));
    return absl::OkStatus();
  };

  model->train();
  const auto started = std::chrono::steady_clock::now();
  int64_t tokens_since_log = 0;
  auto log_time = started;
  for (int64_t step = start_step; step < p.steps; ++step) {
    if (context.should_stop()) {
      if (!context.shutting_down()) return absl::CancelledError(absl::StrCat("stopped at step ", step));
      EXPSVC_RETURN_IF_ERROR(save_resume(step));
      return absl::AbortedError(absl::StrCat("worker shutting down; resume point at step ", step));
    }
    // Batches depend only on (seed, step): a resumed run sees the same data.
    SplitMix64 random(static_cast<uint64_t>(p.seed) * 1000003ull + static_cast<uint64_t>(step));
    std::vector<int64_t> indices;
    for (int64_t b = 0; b < p.batch_size; ++b) {
      indices.push_back(static_cast<int64_t>(random.UniformBelow(static_cast<uint64_t>(train_windows))));
    }
    const double lr = LearningRate(p, step);
    for (auto& group : optimizer.param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
    optimizer.zero_grad();
    const torch::Tensor loss = NextTokenLoss(model, WindowBatch(corpus, Split::kTrain, indices).to(device));
    loss.backward();
    torch::nn::utils::clip_grad_norm_(model->parameters(), 1.0);
    optimizer.step();
    const double train_loss = loss.item<double>();
    if (!std::isfinite(train_loss)) {
      return absl::InternalError(absl::StrCat("training diverged: loss ", train_loss, " at step ", step + 1));
    }
    const int64_t done = step + 1;
    tokens_since_log += p.batch_size * (corpus.window_length() - 1);
    context.ReportMetric("train_loss", done, train_loss);
    context.ReportMetric("lr", done, lr);
    const bool is_checkpoint = std::binary_search(checkpoint_steps.begin(), checkpoint_steps.end(), done);
    if (done % p.eval_every == 0 || is_checkpoint) {
      evaluate(done);
      const auto now = std::chrono::steady_clock::now();
      const double seconds = std::chrono::duration<double>(now - log_time).count();
      context.ReportMetric("tokens_per_second", done, seconds > 0 ? tokens_since_log / seconds : 0);
      context.Log(absl::StrFormat("step %d/%d train_loss %.4f lr %.2e, %.0f tokens/s", done, p.steps, train_loss, lr,
                                  seconds > 0 ? tokens_since_log / seconds : 0));
      tokens_since_log = 0;
      log_time = now;
    }
    if (is_checkpoint) EXPSVC_RETURN_IF_ERROR(save_checkpoint(done));
    if (p.resume_every > 0 && done % p.resume_every == 0 && done < p.steps) EXPSVC_RETURN_IF_ERROR(save_resume(done));
  }
  context.Log(absl::StrFormat("done in %.1f s",
                              std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count()));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<int64_t>> CheckpointSteps(int64_t steps, const std::string& explicit_list) {
  if (steps < 1) return absl::InvalidArgumentError("steps must be at least 1");
  std::vector<int64_t> list;
  if (!explicit_list.empty()) {
    for (absl::string_view part : absl::StrSplit(explicit_list, ',', absl::SkipWhitespace())) {
      int64_t step = 0;
      if (!absl::SimpleAtoi(part, &step) || step < 1 || step > steps) {
        return absl::InvalidArgumentError(
            absl::StrCat("checkpoint_steps: '", std::string(part), "' is not a step in 1..", steps));
      }
      list.push_back(step);
    }
  } else {
    for (int64_t decade = 10; decade <= steps; decade *= 10) {
      for (int64_t factor : {1, 2, 5}) {
        if (decade * factor <= steps) list.push_back(decade * factor);
      }
    }
  }
  list.push_back(steps);
  std::sort(list.begin(), list.end());
  list.erase(std::unique(list.begin(), list.end()), list.end());
  return list;
}

absl::Status RunBuildCorpus(JobContext& context) {
  return RunAtTorchEdge("build_corpus", [&] { return BuildCorpus(context); });
}

absl::Status RunTrainLm(JobContext& context) {
  return RunAtTorchEdge("train_lm", [&] { return TrainLm(context); });
}

absl::Status RegisterLmJobs(JobKindRegistry& registry) {
  EXPSVC_RETURN_IF_ERROR(registry.Register("build_corpus", RunBuildCorpus));
  return registry.Register("train_lm", RunTrainLm);
}

}  // namespace expsvc::worker
