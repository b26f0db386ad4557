// The page_model job: one mm, one thread, diffed against a page-granular model after
// every operation (vma/page_model.cpp). It keeps no trace of its own: the job folds
// every draw into the seed's trace hash.
#include "mmtorture/jobs/page_model.h"

#include <fmt/format.h>

#include "mmtorture/core/trace_hash.h"
#include "mmtorture/jobs/job.h"

namespace mmt::jobs {

namespace {

// Folds every draw into a trace hash: its sequence of (kind, site, bound, value)
// follows the page model's control flow op by op.
class HashingChoices final : public ChoiceSource {
 public:
  explicit HashingChoices(ChoiceSource& inner) : inner_(inner) {}
  bool exhausted() const override { return inner_.exhausted(); }
  uint64_t hash() const { return hash_.value(); }

 protected:
  uint64_t produce(ChoiceKind kind, Site site, uint64_t bound, Bias bias, double p) override {
    const uint64_t value =
        bias == Bias::Probability ? (inner_.flip(kind, site, p) ? 1 : 0) : inner_.draw(kind, site, bound);
    hash_.fold_string(TraceEvent::Choice, site.name);
    hash_.fold(TraceEvent::Choice, static_cast<uint64_t>(kind), bound, value);
    return value;
  }

 private:
  ChoiceSource& inner_;
  TraceHash hash_;
};

class PageModelJob final : public Job {
 public:
  const char* name() const override { return "page_model"; }
  const char* doc() const override { return "one mm, one thread, diffed against a page-granular model after every op"; }
  const char* knob_section() const override { return ""; }

  JobResult run(const Config& config, ChoiceSource& choices, const SeedHooks&) const override {
    JobResult out;
    HashingChoices hashing(choices);
    const auto r = vma::run_page_model(hashing, page_model_options(config));
    out.ops = r.ops_done;
    out.failure = r.failure;
    out.trace_hash = hashing.hash();
    out.stats = fmt::format("{} -ENOMEM (injected)", r.enomem);
    return out;
  }

  uint64_t threads(const Config&) const override { return 1; }

  bool shrink_config(ConfigShrinker& shrinker) const override { return shrink_ops_per_seed(shrinker, 1); }
};

}  // namespace

vma::PageModelOptions page_model_options(const Config& config) {
  vma::PageModelOptions o;
  o.ops = config.run.ops_per_seed;
  o.inject_failures = config.faults.page_model_fail_nth;
  o.memory_pages = config.world.memory_pages;
  return o;
}

const Job& page_model_job() {
  static const PageModelJob job;
  return job;
}

}  // namespace mmt::jobs
