#include "worker/lm/jobs/train_sae_job.h"

#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/kinds/sae_kinds.h"
#include "common/status_macros.h"
#include "worker/lm/activations/activation_source.h"
#include "worker/lm/jobs/group_runs.h"
#include "worker/lm/jobs/sae_job_inputs.h"
#include "worker/lm/jobs/sae_training_plan.h"
#include "worker/lm/model/llama_checkpoint.h"
#include "worker/lm/sae/sae_files.h"
#include "worker/lm/sae/sae_trainer.h"
#include "worker/torch/torch_job_support.h"

namespace expsvc::worker {
namespace {

namespace fs = std::filesystem;
namespace v1 = expsvc::v1;
using kinds::TrainSaeParams;

constexpr char kResumeArtifact[] = "sae_resume.pt";
constexpr int64_t kDeadFractionEvery = 10;

// Everything that decides which activations a member sees: members that
// differ in any of these cannot share a forward pass.
std::string SharedDataKey(const TrainSaeParams& p) {
  return absl::StrCat(p.model, "|", p.checkpoint, "|", p.batch_windows, "|", p.max_windows, "|", p.steps, "|", p.seed,
                      "|", p.device, "|", p.threads);
}

struct Member {
  int index = 0;  // in the JobGroup
  TrainSaeParams params;
  int64_t block = 0;
  std::unique_ptr<lm::SaeTrainer> trainer;
  double step_seconds = 0;
  int64_t tokens = 0;
};

// Training state shared by one run's members.
class SaeGroupRun {
 public:
  SaeGroupRun(JobGroup& group, std::vector<Member> members)
      : group_(group), members_(std::move(members)), lead_(group.member(members_.front().index)) {}

  void Run() {
    absl::Status status = RunAtTorchEdge("train_sae", [&] { return Train(); });
    FinishAll(status);
  }

 private:
  JobContext& context(const Member& member) { return group_.member(member.index); }
  bool active(const Member& member) const { return !group_.finished(member.index); }
  void Finish(Member& member, absl::Status status) {
    if (!active(member)) return;
    group_.Finish(member.index, std::move(status));
    member.trainer.reset();  // its memory goes back at once
  }
  // Ends every member still running: with `status`, or OK.
  void FinishAll(const absl::Status& status) {
    for (Member& member : members_) Finish(member, status);
  }
  void LogAll(const std::string& line) {
    for (Member& member : members_) {
      if (active(member)) context(member).Log(line);
    }
  }

  absl::Status Train() {
    const TrainSaeParams& p = members_.front().params;
    EXPSVC_ASSIGN_OR_RETURN(device_, SelectDevice(p.device, lead_));
    SetTorchThreads(p.threads);
    EXPSVC_ASSIGN_OR_RETURN(lm::LmCorpus corpus, FetchParentCorpus(lead_));
    EXPSVC_ASSIGN_OR_RETURN(const LmCheckpointFolder checkpoint, FetchLmCheckpoint(lead_, p.model, p.checkpoint));
    EXPSVC_RETURN_IF_ERROR(CheckCorpusFitsModel(lead_, corpus, checkpoint.dir));
    EXPSVC_ASSIGN_OR_RETURN(lm::LlamaModel model, lm::LoadLlamaModel(checkpoint.dir, {torch::kFloat32, device_}));
    const lm::LlamaConfig& config = model->config();

    for (Member& member : members_) {
      absl::StatusOr<int64_t> block = BlockOfLayer(member.params.layer, config.num_hidden_layers);
      if (!block.ok()) {
        Finish(member, block.status());
        continue;
      }
      member.block = *block;
      if (member.params.k > member.params.n_latents) {
        Finish(member, absl::InvalidArgumentError(absl::StrCat("k (", member.params.k, ") exceeds n_latents (",
                                                               member.params.n_latents, ")")));
      }
    }

    const int64_t available = corpus.window_count(lm::Split::kTrain);
    // The windows trained on: all, or max_windows spread over both languages.
    const std::vector<int64_t> pool = EvenlySpacedWindows(available, p.max_windows);
    const auto windows = static_cast<int64_t>(pool.size());
    if (windows == 0) return absl::FailedPreconditionError("the corpus has no training windows");
    total_steps_ = p.steps > 0 ? p.steps : (windows + p.batch_windows - 1) / p.batch_windows;
    const int64_t rows = p.batch_windows * (corpus.window_length() - 1);

    // Memory: each member's SAE and Adam state stay resident; one step's
    // buffers and the LM (weights plus one batch of every layer) are shared.
    std::vector<Member*> live;
    std::vector<SaeMemoryEstimate> estimates;
    int64_t lm_bytes = 0;
    for (const torch::Tensor& parameter : model->parameters()) lm_bytes += static_cast<int64_t>(parameter.nbytes());
    for (Member& member : members_) {
      if (!active(member)) continue;
      live.push_back(&member);
      estimates.push_back(EstimateSaeMemory(config.hidden_size, member.params.n_latents, member.params.k,
                                            member.params.dtype == "bfloat16" ? 2 : 4, rows,
                                            member.params.encoder_precision == "bfloat16" ? 2 : 4));
    }
    if (live.empty()) return absl::OkStatus();
    const int64_t shared = lm_bytes + static_cast<int64_t>(live.size()) * rows * config.hidden_size * 4;
    // On a GPU its memory binds; on the CPU the host's.
    const int64_t budget_mb = device_.is_cuda() && group_.gpu_memory_budget_mb() > 0 ? group_.gpu_memory_budget_mb()
                                                                                      : group_.memory_budget_mb();
    const int64_t budget = budget_mb * (int64_t{1} << 20);
    EXPSVC_ASSIGN_OR_RETURN(const std::vector<std::vector<int>> subsets, PlanMemberSubsets(estimates, shared, budget));
    LogAll(absl::StrFormat(
        "train_sae: %d SAE(s) on %s (%d layers, width %d), %d steps of %d windows (%d tokens) from %d training "
        "windows; %d subset(s) within the %d MiB budget of the %s",
        live.size(), checkpoint.dir.string(), config.num_hidden_layers, config.hidden_size, total_steps_,
        p.batch_windows, rows, windows, subsets.size(), budget_mb, device_.is_cuda() ? "GPU" : "host"));

    for (const std::vector<int>& subset : subsets) {
      std::vector<Member*> chosen;
      for (int i : subset) chosen.push_back(live[static_cast<size_t>(i)]);
      EXPSVC_RETURN_IF_ERROR(TrainSubset(model, corpus, pool, checkpoint, chosen));
    }
    return absl::OkStatus();
  }

  absl::Status StartMember(Member& member, int64_t d_in) {
    const TrainSaeParams& p = member.params;
    lm::TopKSae sae(lm::TopKSaeOptions(d_in, p.n_latents, p.k)
                        .dtype(p.dtype == "bfloat16" ? torch::kBFloat16 : torch::kFloat32)
                        .encoder_dtype(p.encoder_precision == "bfloat16" ? torch::kBFloat16 : torch::kFloat32)
                        .seed(static_cast<uint64_t>(p.seed)));
    sae->to(device_);
    lm::SaeTrainerOptions options;
    options.lr = p.lr;
    options.warmup_steps = p.warmup_steps;
    options.dead_after_tokens = p.dead_after_tokens;
    member.trainer = std::make_unique<lm::SaeTrainer>(sae, options);
    JobContext& job = context(member);
    if (std::optional<v1::ArtifactRef> resume = job.FindOwnArtifact(kResumeArtifact); resume.has_value()) {
      EXPSVC_ASSIGN_OR_RETURN(std::string path, job.FetchArtifact(*resume));
      EXPSVC_RETURN_IF_ERROR(member.trainer->Load(path));
      EXPSVC_RETURN_IF_ERROR(job.ReplaceMetricsAfter(member.trainer->step()));
      job.Log(absl::StrCat("resuming at step ", member.trainer->step(), " of ", total_steps_));
    }
    return absl::OkStatus();
  }

  absl::Status SaveResume(Member& member) {
    JobContext& job = context(member);
    const std::string path = (fs::path(job.scratch_dir()) / kResumeArtifact).string();
    EXPSVC_RETURN_IF_ERROR(member.trainer->Save(path));
    return job.UploadArtifact(kResumeArtifact, path).status();
  }

  absl::Status SaveSaeFiles(Member& member, const LmCheckpointFolder& checkpoint, int64_t context_size) {
    JobContext& job = context(member);
    EXPSVC_ASSIGN_OR_RETURN(const lm::SaeFileLayout layout, lm::ParseSaeFileLayout(member.params.file_layout));
    lm::SaeFileInfo info;
    info.layer = member.block;
    info.hookpoint = lm::DefaultSaeHookpoint(layout, member.block);
    info.model_name = member.params.model.empty() ? "expsvc/train_lm" : member.params.model;
    info.model_name += "@" + checkpoint.dir.filename().string();
    info.context_size = context_size;
    const fs::path dir = fs::path(job.scratch_dir()) / "sae";
    EXPSVC_RETURN_IF_ERROR(lm::SaveSae(member.trainer->sae(), layout, info, dir));
    for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
      EXPSVC_RETURN_IF_ERROR(
          job.UploadArtifact(absl::StrCat(kSaeArtifactPrefix, entry.path().filename().string()), entry.path().string())
              .status());
    }
    return absl::OkStatus();
  }

  absl::Status TrainSubset(lm::LlamaModel& model, const lm::LmCorpus& corpus, const std::vector<int64_t>& pool,
                           const LmCheckpointFolder& checkpoint, const std::vector<Member*>& subset) {
    const TrainSaeParams& p = subset.front()->params;
    std::vector<int64_t> blocks;
    int64_t first_step = total_steps_;
    for (Member* member : subset) {
      absl::Status started = StartMember(*member, model->config().hidden_size);
      if (!started.ok()) {
        Finish(*member, started);
        continue;
      }
      blocks.push_back(member->block);
      first_step = std::min(first_step, member->trainer->step());
    }
    if (blocks.empty()) return absl::OkStatus();
    lm::ActivationSourceOptions source_options;
    source_options.layers = blocks;
    source_options.split = lm::Split::kTrain;
    source_options.batch_windows = p.batch_windows;

    lm::ActivationSource source(model, corpus, source_options);
    WindowOrder order(static_cast<uint64_t>(p.seed), static_cast<int64_t>(pool.size()));
    const auto started = std::chrono::steady_clock::now();

    for (int64_t step = first_step; step < total_steps_; ++step) {
      bool any = false;
      for (Member* member : subset) {
        if (!active(*member)) continue;
        JobContext& job = context(*member);
        if (job.should_stop()) {
          if (job.shutting_down()) {
            absl::Status saved = SaveResume(*member);
            Finish(*member, saved.ok() ? absl::AbortedError(absl::StrCat("worker shutting down; resume point at step ",
                                                                         member->trainer->step()))
                                       : saved);
          } else {
            Finish(*member, absl::CancelledError("cancelled"));
          }
          continue;
        }
        any = any || member->trainer->step() == step;
      }
      if (!any) {
        bool someone_left = false;
        for (Member* member : subset) someone_left = someone_left || active(*member);
        if (!someone_left) return absl::OkStatus();
        continue;  // every live member is past this step (resumed further)
      }
      std::vector<int64_t> batch_windows = order.Batch(step, p.batch_windows);
      for (int64_t& window : batch_windows) window = pool[static_cast<size_t>(window)];
      EXPSVC_ASSIGN_OR_RETURN(const lm::ActivationBatch batch, source.Compute(batch_windows));
      for (Member* member : subset) {
        if (!active(*member) || member->trainer->step() != step) continue;
        const auto step_started = std::chrono::steady_clock::now();
        const torch::Tensor x = batch.layers.at(member->block).to(device_);
        const lm::SaeStepStats stats = member->trainer->Step(x);
        member->step_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - step_started).count();
        member->tokens += x.size(0);
        JobContext& job = context(*member);
        if (!std::isfinite(stats.fvu)) {
          Finish(*member,
                 absl::FailedPreconditionError(absl::StrFormat(
                     "the SAE's loss is not finite at step %d (FVU %f); a lower lr may help", step + 1, stats.fvu)));
          continue;
        }
        job.ReportMetric("fvu", stats.step, stats.fvu);
        if (stats.step % kDeadFractionEvery == 0 || stats.step == total_steps_) {
          job.ReportMetric("dead_fraction", stats.step, stats.dead_fraction);
          job.Log(absl::StrFormat("step %d/%d fvu %.4f dead %.3f", stats.step, total_steps_, stats.fvu,
                                  stats.dead_fraction));
        }
        if (member->params.resume_every > 0 && stats.step % member->params.resume_every == 0 &&
            stats.step < total_steps_) {
          absl::Status saved = SaveResume(*member);
          if (!saved.ok()) Finish(*member, saved);
        }
      }
    }

    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    for (Member* member : subset) {
      if (!active(*member)) continue;
      JobContext& job = context(*member);
      absl::Status saved = SaveSaeFiles(*member, checkpoint, corpus.window_length());
      if (!saved.ok()) {
        Finish(*member, saved);
        continue;
      }
      job.ReportMetric("forward_passes", total_steps_, static_cast<double>(source.forward_passes()));
      job.ReportMetric("saes_per_forward_pass", total_steps_, static_cast<double>(blocks.size()));
      job.ReportMetric("tokens_per_second", total_steps_,
                       member->step_seconds > 0 ? static_cast<double>(member->tokens) / member->step_seconds : 0);
      job.Log(absl::StrFormat(
          "done: %d LM forward passes this attempt shared by %d SAE(s) (%d without sharing), %.1f s in all",
          source.forward_passes(), blocks.size(), source.forward_passes() * static_cast<int64_t>(blocks.size()),
          seconds));
      Finish(*member, absl::OkStatus());
    }
    return absl::OkStatus();
  }

  JobGroup& group_;
  std::vector<Member> members_;
  JobContext& lead_;
  torch::Device device_ = torch::kCPU;
  int64_t total_steps_ = 0;
};

}  // namespace

void RunTrainSaeGroup(JobGroup& group) {
  for (std::vector<Member>& members : SplitGroupIntoRuns<Member, TrainSaeParams>(group, SharedDataKey)) {
    SaeGroupRun(group, std::move(members)).Run();
  }
}

}  // namespace expsvc::worker
