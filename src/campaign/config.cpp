// The knob table (expanded from knobs.def) and everything that reads or prints it:
// TOML and JSON parsing, overrides, validation, the banner, the config hash and the
// generated configs/README.md.
#include "mmtorture/campaign/config.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <cmath>
#include <nlohmann/json.hpp>
#include <limits>
#include <stdexcept>
#include <toml++/toml.h>

#include "mmtorture/core/defects.h"
#include "mmtorture/core/trace_hash.h"
#include "mmtorture/jobs/job.h"
#include "mmtorture/jobs/maple_stress.h"
#include "mmtorture/jobs/nommu.h"
#include "mmtorture/jobs/world.h"
#include "mmtorture/maple/reference.h"

namespace mmt::campaign {

namespace {

std::string validate_job(std::string_view value) {
  return jobs::find_job(value) ? std::string{} : "must be " + jobs::job_names_quoted();
}
// workload.job_mix "JOB:WEIGHT" and workload.job_set "JOB:section.key=value": the job
// before the colon, the rest after it.
std::pair<std::string_view, std::string_view> job_entry(std::string_view value) {
  const size_t colon = value.find(':');
  if (colon == std::string_view::npos) return {{}, value};
  return {value.substr(0, colon), value.substr(colon + 1)};
}
std::string validate_job_mix_entry(std::string_view value) {
  const auto [job, weight] = job_entry(value);
  if (job.empty()) return fmt::format("'{}' is not JOB:WEIGHT", value);
  if (!jobs::find_job(job)) return fmt::format("'{}': the job must be {}", value, jobs::job_names_quoted());
  uint64_t w = 0;
  const bool digits = !weight.empty() && weight.size() <= 4 &&
                      std::all_of(weight.begin(), weight.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (digits)
    for (char c : weight) w = w * 10 + static_cast<uint64_t>(c - '0');
  if (!digits || w < 1 || w > 1000) return fmt::format("'{}': the weight must be an integer in 1..1000", value);
  return {};
}
std::string validate_job_set_entry(std::string_view value) {
  const auto [job, assignment] = job_entry(value);
  if (job.empty()) return fmt::format("'{}' is not JOB:section.key=value", value);
  if (!jobs::find_job(job)) return fmt::format("'{}': the job must be {}", value, jobs::job_names_quoted());
  const std::string_view key = assignment.substr(0, assignment.find('='));
  if (key == "workload.job" || key == "workload.job_mix" || key == "workload.job_set")
    return fmt::format("'{}': the mix decides {}", value, key);
  try {
    Config scratch;
    apply_override(scratch, assignment);
  } catch (const ConfigError& e) {
    return fmt::format("'{}': {}: {}", value, e.key, e.reason);
  }
  return {};
}
std::string validate_maple_backend(std::string_view value) {
  if (value != "model" && value != "kernel" && value != "differential")
    return "must be \"model\", \"kernel\" or \"differential\"";
  if (value != "model" && !jobs::maple_kernel_backend_available())
    return "\"" + std::string(value) +
           "\" needs the kernel backend, which this build does not have (run scripts/kernel-source 6.12, then "
           "build the kernel preset)";
  return {};
}
std::string validate_prealloc_order(std::string_view value) {
  return value == "after" || value == "before" ? std::string{} : "must be \"after\" or \"before\"";
}
std::string validate_cma_policy(std::string_view value) {
  return value == "none" || value == "bounded" || value == "forever" || value == "nofail_only"
             ? std::string{}
             : "must be \"none\", \"bounded\", \"forever\" or \"nofail_only\"";
}
std::string validate_cma_locking(std::string_view value) {
  return value == "global" || value == "per_area" || value == "none" ? std::string{}
                                                                     : "must be \"global\", \"per_area\" or \"none\"";
}
std::string validate_longterm_mode(std::string_view value) {
  return value == "migrate_first" || value == "pin_in_place" || value == "swarm"
             ? std::string{}
             : "must be \"migrate_first\", \"pin_in_place\" or \"swarm\"";
}
std::string validate_strategy(std::string_view value) {
  // "random" is the old name of "preempt": repro files written before the rename replay.
  return value == "preempt" || value == "uniform" || value == "pct" || value == "bounded" || value == "random"
             ? std::string{}
             : "must be \"preempt\", \"uniform\", \"pct\" or \"bounded\"";
}
std::string validate_defect(std::string_view value) {
  return defect_from_name(value) ? std::string{}
                                 : fmt::format("unknown defect '{}' (mmtorture list --defects names them)", value);
}
std::string validate_fault_rule(std::string_view value) {
  try {
    mem::parse_fault_rule(value);
  } catch (const ConfigError& e) {
    return e.reason;
  }
  return {};
}
std::string validate_seeds(std::string_view value) {
  std::string reason;
  return parse_seed_range(value, &reason) ? std::string{} : reason;
}

std::vector<Knob> build_knob_table() {
  std::vector<Knob> table;
#define MMT_SECTION(section, doc)
#define MMT_SECTION_END(section)
#define MMT_KNOB_U64(section, name, def, min, max, doc)                                             \
  table.push_back(Knob{#section, #name, KnobType::U64, doc, static_cast<double>(min),               \
                       static_cast<double>(max), nullptr,                                           \
                       [](Config& c) -> void* { return &c.section.name; }});
#define MMT_KNOB_F64(section, name, def, min, max, doc)                                 \
  table.push_back(Knob{#section, #name, KnobType::F64, doc, min, max, nullptr,          \
                       [](Config& c) -> void* { return &c.section.name; }});
#define MMT_KNOB_BOOL(section, name, def, doc)                                          \
  table.push_back(Knob{#section, #name, KnobType::Bool, doc, 0, 1, nullptr,             \
                       [](Config& c) -> void* { return &c.section.name; }});
#define MMT_KNOB_STR(section, name, def, validator, doc)                                \
  table.push_back(Knob{#section, #name, KnobType::Str, doc, 0, 0, validator,            \
                       [](Config& c) -> void* { return &c.section.name; }});
#define MMT_KNOB_LIST(section, name, validator, doc)                                    \
  table.push_back(Knob{#section, #name, KnobType::StrList, doc, 0, 0, validator,        \
                       [](Config& c) -> void* { return &c.section.name; }});
#include "mmtorture/jobs/knobs.def"
#undef MMT_SECTION
#undef MMT_SECTION_END
#undef MMT_KNOB_U64
#undef MMT_KNOB_F64
#undef MMT_KNOB_BOOL
#undef MMT_KNOB_STR
#undef MMT_KNOB_LIST
  return table;
}

const Knob* find_knob(std::string_view section, std::string_view name) {
  for (const Knob& knob : knob_table())
    if (section == knob.section && name == knob.name) return &knob;
  return nullptr;
}

bool section_exists(std::string_view section) {
  for (const auto& [name, doc] : section_table())
    if (section == name) return true;
  return false;
}

const char* type_name(KnobType type) {
  switch (type) {
    case KnobType::U64: return "integer";
    case KnobType::F64: return "float";
    case KnobType::Bool: return "boolean";
    case KnobType::Str: return "string";
    case KnobType::StrList: return "list of strings";
  }
  return "?";
}

const char* value_type_name(const KnobValue& value) {
  switch (value.index()) {
    case 0: return "an integer";
    case 1: return "a float";
    case 2: return "a boolean";
    case 3: return "a string";
    default: return "an array";
  }
}

std::string float_text(double value) {
  std::string text = fmt::format("{}", value);
  if (text.find_first_of(".eEn") == std::string::npos) text += ".0";
  return text;
}

std::string range_text(const Knob& knob) {
  if (knob.type == KnobType::U64)
    return fmt::format("{}..{}", static_cast<uint64_t>(knob.min), static_cast<uint64_t>(knob.max));
  if (knob.type == KnobType::F64) return fmt::format("{}..{}", knob.min, knob.max);
  return "";
}

// Whether a knob decides what a seed does (and so belongs in the config hash).
bool knob_decides_run(const Knob& knob) {
  return std::string_view(knob.section) != "run" || std::string_view(knob.name) == "ops_per_seed" ||
         std::string_view(knob.name) == "defects";
}

}  // namespace

const std::vector<Knob>& knob_table() {
  static const std::vector<Knob> table = build_knob_table();
  return table;
}

const std::vector<std::pair<const char*, const char*>>& section_table() {
  static const std::vector<std::pair<const char*, const char*>> table = [] {
    std::vector<std::pair<const char*, const char*>> t;
#define MMT_SECTION(section, doc) t.emplace_back(#section, doc);
#define MMT_SECTION_END(section)
#define MMT_KNOB_U64(...)
#define MMT_KNOB_F64(...)
#define MMT_KNOB_BOOL(...)
#define MMT_KNOB_STR(...)
#define MMT_KNOB_LIST(...)
#include "mmtorture/jobs/knobs.def"
#undef MMT_SECTION
#undef MMT_SECTION_END
#undef MMT_KNOB_U64
#undef MMT_KNOB_F64
#undef MMT_KNOB_BOOL
#undef MMT_KNOB_STR
#undef MMT_KNOB_LIST
    return t;
  }();
  return table;
}

std::optional<SeedRange> parse_seed_range(std::string_view text, std::string* reason) {
  auto number = [](std::string_view digits, uint64_t& out) {
    if (digits.empty() || digits.size() > 19) return false;
    out = 0;
    for (char c : digits) {
      if (c < '0' || c > '9') return false;
      out = out * 10 + static_cast<uint64_t>(c - '0');
    }
    return true;
  };
  SeedRange range;
  const size_t dots = text.find("..");
  const bool ok = dots == std::string_view::npos
                      ? number(text, range.first) && ((range.last = range.first), true)
                      : number(text.substr(0, dots), range.first) && number(text.substr(dots + 2), range.last);
  if (!ok) {
    if (reason) *reason = fmt::format("'{}' is not a seed or a range A..B", text);
    return std::nullopt;
  }
  if (range.first > range.last) {
    if (reason) *reason = fmt::format("'{}' is empty (A must not exceed B)", text);
    return std::nullopt;
  }
  return range;
}

void set_knob(Config& config, std::string_view section, std::string_view name, const KnobValue& value,
              const std::string& file, uint64_t line) {
  const std::string key = fmt::format("{}.{}", section, name);
  if (!section_exists(section)) throw ConfigError(file, line, std::string(section), "unknown section");
  const Knob* knob = find_knob(section, name);
  if (!knob) throw ConfigError(file, line, key, "unknown key");
  auto wrong_type = [&] {
    throw ConfigError(file, line, key,
                      fmt::format("expected {}, got {}", type_name(knob->type), value_type_name(value)));
  };
  void* target = knob->member(config);
  switch (knob->type) {
    case KnobType::U64: {
      const auto* v = std::get_if<int64_t>(&value);
      if (!v) wrong_type();
      if (*v < 0 || static_cast<double>(*v) < knob->min || static_cast<double>(*v) > knob->max)
        throw ConfigError(file, line, key, fmt::format("{} is out of range {}", *v, range_text(*knob)));
      *static_cast<uint64_t*>(target) = static_cast<uint64_t>(*v);
      break;
    }
    case KnobType::F64: {
      double v = 0;
      if (const auto* i = std::get_if<int64_t>(&value))
        v = static_cast<double>(*i);
      else if (const auto* d = std::get_if<double>(&value))
        v = *d;
      else
        wrong_type();
      if (!(v >= knob->min && v <= knob->max))
        throw ConfigError(file, line, key, fmt::format("{} is out of range {}", v, range_text(*knob)));
      *static_cast<double*>(target) = v;
      break;
    }
    case KnobType::Bool: {
      const auto* v = std::get_if<bool>(&value);
      if (!v) wrong_type();
      *static_cast<bool*>(target) = *v;
      break;
    }
    case KnobType::Str: {
      const auto* v = std::get_if<std::string>(&value);
      if (!v) wrong_type();
      if (knob->validate) {
        const std::string reason = knob->validate(*v);
        if (!reason.empty()) throw ConfigError(file, line, key, reason);
      }
      *static_cast<std::string*>(target) = *v;
      break;
    }
    case KnobType::StrList: {
      std::vector<std::string> elements;
      if (const auto* list = std::get_if<std::vector<std::string>>(&value)) {
        elements = *list;
      } else if (const auto* text = std::get_if<std::string>(&value)) {
        for (size_t start = 0; start < text->size();) {
          const size_t comma = std::min(text->find(',', start), text->size());
          elements.push_back(text->substr(start, comma - start));
          start = comma + 1;
        }
      } else {
        wrong_type();
      }
      // Duplicates are dropped (the first place counts), so the hash sees one list.
      std::vector<std::string> unique;
      for (const auto& element : elements) {
        if (knob->validate) {
          const std::string reason = knob->validate(element);
          if (!reason.empty()) throw ConfigError(file, line, key, reason);
        }
        if (std::find(unique.begin(), unique.end(), element) == unique.end()) unique.push_back(element);
      }
      *static_cast<std::vector<std::string>*>(target) = std::move(unique);
      break;
    }
  }
}

namespace {

uint64_t line_of(const toml::node& node) { return node.source().begin.line; }

KnobValue toml_value(const toml::node& node, const std::string& file, const std::string& key) {
  if (auto v = node.as_integer()) return static_cast<int64_t>(v->get());
  if (auto v = node.as_floating_point()) return v->get();
  if (auto v = node.as_boolean()) return v->get();
  if (auto v = node.as_string()) return v->get();
  if (auto v = node.as_array(); v && (v->empty() || v->is_homogeneous(toml::node_type::string))) {
    std::vector<std::string> list;  // an empty array is homogeneous too
    for (const auto& element : *v) list.push_back(element.as_string()->get());
    return list;
  }
  throw ConfigError(file, line_of(node), key, "expected a value (integer, float, boolean, string or array of strings), got a table or other array");
}

}  // namespace

// `--set section.key=value`: the value is read as TOML, so every form the tool prints
// (the banner's `job="maple"`, `defects=["a"]`, numbers, booleans) is taken back as it
// is; a bare word that is not a TOML value stays a string (`strategy=pct`,
// `seeds=1..50`, `defects=a,b`), and a string knob takes its text as written
// (`seeds=5`).
void apply_override(Config& config, std::string_view assignment) {
  const size_t eq = assignment.find('=');
  const size_t dot = assignment.find('.');
  if (eq == std::string_view::npos || dot == std::string_view::npos || dot > eq)
    throw ConfigError("--set", 0, std::string(assignment), "expected section.key=value");
  const std::string section(assignment.substr(0, dot));
  const std::string name(assignment.substr(dot + 1, eq - dot - 1));
  const std::string text(assignment.substr(eq + 1));
  KnobValue value = text;
  const Knob* knob = find_knob(section, name);
  const bool string_knob = knob && (knob->type == KnobType::Str || knob->type == KnobType::StrList);
  if (!text.empty()) {
    try {
      const std::string document = "value = " + text;
      const toml::table parsed = toml::parse(std::string_view(document), std::string_view("--set"));
      if (const toml::node* node = parsed.get("value"); node && parsed.size() == 1) {
        const bool is_string = node->is_string() || node->is_array();
        if (!string_knob || is_string) value = toml_value(*node, "--set", section + "." + name);
      }
    } catch (const toml::parse_error&) {
      // Not a TOML value: a bare word, taken as the string it is.
    } catch (const ConfigError&) {
      // A table or a mixed array: left as text, so set_knob names the type it wants.
    }
  }
  set_knob(config, section, name, value, "--set", 0);
}

namespace {

struct JobShare {
  std::string job;
  uint64_t weight = 0;
};

// workload.job_mix, parsed (its entries passed validate_job_mix_entry).
std::vector<JobShare> job_shares(const Config& config) {
  std::vector<JobShare> shares;
  for (const std::string& entry : config.workload.job_mix) {
    const auto [job, weight] = job_entry(entry);
    shares.push_back(JobShare{std::string(job), std::stoull(std::string(weight))});
  }
  return shares;
}

// The job mix's own rules; each job's config is then validated as that job's seeds run it.
void validate_job_mix(const Config& config, const std::string& file) {
  if (config.workload.job_mix.empty()) {
    if (!config.workload.job_set.empty())
      throw ConfigError(file, 0, "workload.job_set", "sets knobs of the jobs of a workload.job_mix, and there is none");
    return;
  }
  if (bounded_exploration(config))
    throw ConfigError(file, 0, "workload.job_mix", "\"bounded\" explores one job's schedules, not a mix of jobs");
  const std::vector<std::string> jobs = mix_jobs(config);
  for (size_t i = 0; i < jobs.size(); ++i)
    if (std::find(jobs.begin(), jobs.begin() + static_cast<ptrdiff_t>(i), jobs[i]) !=
        jobs.begin() + static_cast<ptrdiff_t>(i))
      throw ConfigError(file, 0, "workload.job_mix", fmt::format("names the {} job twice", jobs[i]));
  for (const std::string& entry : config.workload.job_set) {
    const std::string job(job_entry(entry).first);
    if (std::find(jobs.begin(), jobs.end(), job) == jobs.end())
      throw ConfigError(file, 0, "workload.job_set",
                        fmt::format("'{}': the {} job is not in workload.job_mix", entry, job));
  }
  for (const std::string& job : jobs) {
    try {
      validate_config(job_config(config, job), file);
    } catch (const ConfigError& e) {
      // A knob the job's own sets gave its value is named by the set.
      std::string key = e.key;
      for (const std::string& entry : config.workload.job_set) {
        const auto [entry_job, assignment] = job_entry(entry);
        if (entry_job == job && assignment.substr(0, assignment.find('=')) == e.key) key = "workload.job_set";
      }
      throw ConfigError(file, key == e.key ? e.line : 0, key,
                        fmt::format("{} (in the {} job's seeds of the mix)", e.reason, job));
    }
  }
}

}  // namespace

std::vector<std::string> mix_jobs(const Config& config) {
  if (config.workload.job_mix.empty()) return {config.workload.job};
  std::vector<std::string> jobs;
  for (const JobShare& share : job_shares(config)) jobs.push_back(share.job);
  return jobs;
}

std::string job_of_seed(const Config& config, uint64_t seed) {
  const std::vector<JobShare> shares = job_shares(config);
  if (shares.empty()) return config.workload.job;
  uint64_t round = 0;
  for (const JobShare& share : shares) round += share.weight;
  uint64_t slot = seed % round;
  for (const JobShare& share : shares) {
    if (slot < share.weight) return share.job;
    slot -= share.weight;
  }
  return shares.back().job;  // not reached: slot < round
}

Config job_config(const Config& config, std::string_view job) {
  if (config.workload.job_mix.empty()) return config;
  Config out = config;
  out.workload.job = std::string(job);
  out.workload.job_mix.clear();
  out.workload.job_set.clear();
  for (const std::string& entry : config.workload.job_set) {
    const auto [entry_job, assignment] = job_entry(entry);
    if (entry_job == job) apply_override(out, assignment);
  }
  return out;
}

Config seed_config(const Config& config, uint64_t seed) {
  return config.workload.job_mix.empty() ? config : job_config(config, job_of_seed(config, seed));
}

void validate_config(const Config& config, const std::string& file) {
  validate_job_mix(config, file);
  if (config.world.memory_pages % 512 != 0)
    throw ConfigError(file, 0, "world.memory_pages",
                      fmt::format("{} is not a multiple of the 512-page pageblock", config.world.memory_pages));
  if (config.world.min_free_pages >= config.world.memory_pages / 2 && config.world.min_free_pages)
    throw ConfigError(file, 0, "world.min_free_pages",
                      fmt::format("{} must be below half of memory_pages", config.world.min_free_pages));
  const auto options = jobs::world_options(config);
  // The rules the simulation layers own (watermarks and reserved frames fitting the
  // machine, the board's size) are theirs to check: ask them, naming the knob.
  try {
    mem::resolve_mem_config(world_memory_config(options));
  } catch (const ConfigError& e) {
    const std::string& field = e.key;
    const std::string knob = field == "pages"                                                       ? "memory_pages"
                             : field == "min_pages" || field == "low_pages" || field == "high_pages" ? "min_free_pages"
                                                                                                     : field;
    throw ConfigError(file, 0, "world." + knob, e.reason);
  }
  if (bounded_exploration(config)) {
    if (!jobs::job_of(config).explores_schedules())
      throw ConfigError(file, 0, "schedule.strategy",
                        fmt::format("\"bounded\" explores the world job's schedules, not the {} job's",
                                    config.workload.job));
    // Which seeds are slices depends on --seeds as well: run_campaign checks them.
  }
  try {
    nommu::check_boot_options(jobs::nommu_options(config));
  } catch (const ConfigError& e) {
    throw ConfigError(file, 0, "nommu." + e.key, e.reason);
  }
  if (options.strategy == sched::StrategyKind::Pct) {
    try {  // the scheduler's own rule (room for d-1 distinct change points)
      sched::StrategyConfig::pct(options.pct_depth, options.pct_steps).validate();
    } catch (const std::invalid_argument& e) {
      throw ConfigError(file, 0, "schedule.pct_steps", e.what());
    }
  }
  if (config.workload.maple_readers && !config.workload.maple_rcu)
    throw ConfigError(file, 0, "workload.maple_readers",
                      "lock-free readers need an RCU-mode tree: set workload.maple_rcu = true");
  // The shape and node requests of the model follow its reference kernel only: against
  // another version they differ by design, which would read as a divergence.
  if (config.workload.maple_compare_shape && config.workload.maple_backend == "differential" &&
      !std::string_view(jobs::maple_kernel_backend_version()).starts_with(std::string(maple::kReferenceKernel) + "."))
    throw ConfigError(file, 0, "workload.maple_compare_shape",
                      fmt::format("the model's shape and node requests follow linux {}, this build's kernel is {}",
                                  maple::kReferenceKernel, jobs::maple_kernel_backend_version()));
  uint64_t total = 0;
  for (uint32_t w : options.op_mix) total += w;
  if (total == 0) throw ConfigError(file, 0, "workload.mix_*", "every op weight is 0");
}


Config parse_config_text(std::string_view text, const std::string& file) {
  toml::table root;
  try {
    root = toml::parse(text, file);
  } catch (const toml::parse_error& e) {
    std::string description(e.description());
    for (char& c : description)
      if (c == '\n') c = ' ';
    throw ConfigError(file, e.source().begin.line, "toml", description);
  }
  Config config;
  std::map<std::string, uint64_t> key_lines;  // "section.key" -> the line that set it
  for (auto&& [section_key, section_node] : root) {
    const std::string section(section_key.str());
    const auto* table = section_node.as_table();
    if (!section_exists(section))
      throw ConfigError(file, section_key.source().begin.line, section, "unknown section");
    if (!table) throw ConfigError(file, line_of(section_node), section, "expected a [section] table");
    for (auto&& [key, node] : *table) {
      const std::string name(key.str());
      const uint64_t line = key.source().begin.line ? key.source().begin.line : line_of(node);
      set_knob(config, section, name, toml_value(node, file, section + "." + name), file, line);
      key_lines[section + "." + name] = line;
    }
  }
  try {
    validate_config(config, file);
  } catch (const ConfigError& e) {
    // A cross-knob rule names one key: point at the line that set it, when this file did.
    auto it = key_lines.find(e.key);
    if (e.line || it == key_lines.end()) throw;
    throw ConfigError(file, it->second, e.key, e.reason);
  }
  return config;
}

Config load_config_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw ConfigError(path, 0, "", "cannot open the config file");
  std::string text;
  char buffer[65536];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, f)) > 0) text.append(buffer, n);
  std::fclose(f);
  return parse_config_text(text, path);
}

std::string knob_value_text(const Knob& knob, Config& config) {
  void* member = knob.member(config);
  switch (knob.type) {
    case KnobType::U64: return std::to_string(*static_cast<uint64_t*>(member));
    case KnobType::F64: return float_text(*static_cast<double*>(member));
    case KnobType::Bool: return *static_cast<bool*>(member) ? "true" : "false";
    case KnobType::Str: return nlohmann::json(*static_cast<std::string*>(member)).dump();
    case KnobType::StrList: {
      std::string text = "[";
      for (const auto& element : *static_cast<std::vector<std::string>*>(member))
        text += fmt::format("{}{}", text.size() > 1 ? ", " : "", nlohmann::json(element).dump());
      return text + "]";
    }
  }
  return "";
}

std::string config_to_toml(const Config& config) {
  Config copy = config;
  std::string out;
  for (const auto& [section, doc] : section_table()) {
    out += fmt::format("{}[{}]\n", out.empty() ? "" : "\n", section);
    for (const Knob& knob : knob_table())
      if (std::string_view(knob.section) == section)
        out += fmt::format("{} = {}\n", knob.name, knob_value_text(knob, copy));
  }
  return out;
}

std::string config_to_json(const Config& config) {
  Config copy = config;
  nlohmann::ordered_json root = nlohmann::ordered_json::object();
  for (const Knob& knob : knob_table()) {
    void* member = knob.member(copy);
    auto& slot = root[knob.section][knob.name];
    switch (knob.type) {
      case KnobType::U64: slot = *static_cast<uint64_t*>(member); break;
      case KnobType::F64: slot = *static_cast<double*>(member); break;
      case KnobType::Bool: slot = *static_cast<bool*>(member); break;
      case KnobType::Str: slot = *static_cast<std::string*>(member); break;
      case KnobType::StrList: slot = *static_cast<std::vector<std::string>*>(member); break;
    }
  }
  return root.dump();
}

Config config_from_json(std::string_view json_text, const std::string& file, uint64_t line) {
  nlohmann::json root;
  try {
    root = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::exception& e) {
    throw ConfigError(file, line, "config", "not JSON");
  }
  if (!root.is_object()) throw ConfigError(file, line, "config", "expected an object of sections");
  Config config;
  for (auto& [section, table] : root.items()) {
    if (!table.is_object()) throw ConfigError(file, line, "config." + section, "expected an object of knobs");
    for (auto& [name, value] : table.items()) {
      KnobValue v;
      if (value.is_boolean())
        v = value.get<bool>();
      else if (value.is_number_unsigned() || value.is_number_integer())
        v = value.get<int64_t>();
      else if (value.is_number_float())
        v = value.get<double>();
      else if (value.is_string())
        v = value.get<std::string>();
      else if (value.is_array() && std::all_of(value.begin(), value.end(), [](const auto& e) { return e.is_string(); }))
        v = value.get<std::vector<std::string>>();
      else
        throw ConfigError(file, line, fmt::format("config.{}.{}", section, name), "expected a scalar or an array of strings");
      try {
        set_knob(config, section, name, v, file, line);
      } catch (const ConfigError& e) {
        throw ConfigError(file, line, "config." + e.key, e.reason);
      }
    }
  }
  validate_config(config, file);
  return config;
}

std::string config_hash(const Config& config) {
  Config copy = config;
  TraceHash hash;
  for (const Knob& knob : knob_table()) {
    if (!knob_decides_run(knob)) continue;
    // A config without a job mix hashes as it did before the mix existed.
    if (knob.section == std::string_view("workload") &&
        (knob.name == std::string_view("job_mix") || knob.name == std::string_view("job_set")) &&
        static_cast<std::vector<std::string>*>(knob.member(copy))->empty())
      continue;
    hash.fold_string(TraceEvent::Custom, fmt::format("{}={}", knob.qualified(), knob_value_text(knob, copy)));
  }
  return fmt::format("{:016x}", hash.value());
}

std::string config_banner(const Config& config) {
  Config copy = config;
  std::string out;
  for (const auto& [section, doc] : section_table()) {
    out += fmt::format("  [{}]", section);
    for (const Knob& knob : knob_table())
      if (std::string_view(knob.section) == section)
        out += fmt::format(" {}={}", knob.name, knob_value_text(knob, copy));
    out += "\n";
  }
  return out;
}

std::string config_markdown() {
  Config defaults;
  std::string out =
      "# Campaign configs\n\n"
      "<!-- Generated by `mmtorture list --config-doc` from include/mmtorture/jobs/knobs.def;\n"
      "     do not edit by hand (the test cli.configs_readme_matches_knobs fails on drift). -->\n\n"
      "A config is a TOML file with the sections below; every key is optional (the default is\n"
      "used) and an unknown key, a wrong type or an out-of-range value is rejected with\n"
      "`file:line: section.key: reason` and exit code 2. Any knob can also be overridden on the\n"
      "command line with `--set section.key=value`.\n\n"
      "| config | what |\n|---|---|\n"
      "| `smoke.toml` | the README's main job: about a minute on 2 cores; a job mix (`workload.job_mix`): in every "
      "ten seeds eight of the VM world (several mms, every op kind, every allocation class failed, PCT), one of the "
      "maple tree with 3 lock-free RCU readers inside its stores, one of the CMA world (two clients against long-term "
      "pins, each seed drawing pin-in-place or migrate-first, per-CPU page lists, failing migration targets, the "
      "forever retry and a fatal signal) |\n"
      "| `soak.toml` | long: many seeds with more ops, swarm testing of op kinds and fault sites |\n"
      "| `maple.toml` | the maple tree alone (single-threaded) with NOWAIT node-allocation failures |\n"
      "| `maple-rcu.toml` | the maple tree in RCU mode with 3 lock-free readers racing the writer inside its stores "
      "(RCU access points): every read checked against what its index held during it |\n"
      "| `maple-kernel.toml` | the maple job on the kernel's own `lib/maple_tree.c` (kernel backend builds): the "
      "kernel's mt_validate, the model diff, false -ENOMEM and node-accounting checks |\n"
      "| `maple-differential.toml` | the maple job on the model and the kernel's tree from one choice stream: any "
      "difference is `maple.diverged` (kernel backend builds) |\n"
      "| `maple-twin.toml` | the differential with the model held to 6.12's shape: height, nodes in use and nodes "
      "per preallocation compared too, NOWAIT failures at 5% (reference-kernel builds) |\n"
      "| `maple-kernel-rcu.toml` | `maple-rcu.toml` on the kernel's tree: readers inside the kernel's stores at "
      "every READ_ONCE/WRITE_ONCE/rcu_dereference/rcu_assign_pointer (kernel backend builds) |\n"
      "| `maple-differential-rcu.toml` | the differential on RCU-mode trees with 2 lock-free readers, each lookup on "
      "both trees, inside both trees' stores (kernel backend builds) |\n"
      "| `maple-kernel-small.toml` | `maple-kernel.toml` from an empty tree in short runs over many seeds: the root "
      "pointer, the root leaf, the first splits (kernel backend builds; finds 6.1's mtree_alloc_range bugs) |\n"
      "| `oom.toml` | memory and a 64-slot swap device fill up: swap ptes, kswapd giving up, the OOM killer and "
      "oom_reaper |\n"
      "| `seed000-mprotect-nowait.toml` | seed 000: mprotect/merge churn with GFP_NOWAIT failures (`mmtorture "
      "selftest` scenario) |\n"
      "| `seed001-nommu-boot.toml` | seed 001: a nommu board booting (the nommu job) — the split double-count canary "
      "at 64 MiB, the OOM with `--set nommu.memory_mib=32`; the whole grid is `mmtorture nommu-experiment` |\n"
      "| `seed002-brk-churn.toml` | seed 002: brk grow/shrink and heap faults against constant reclaim |\n"
      "| `seed002-bounded.toml` | seed 002 reduced to its shrunk repro (brk, heap fault, brk; kswapd), explored "
      "systematically: with `--defect brk-munmap-shortcut` the race is found at its minimal preemption bound, "
      "without it every schedule within that bound runs clean |\n"
      "| `seed003-mremap-pressure.toml` | seed 003: mremap moves and partial unmaps under swapping pressure |\n"
      "| `seed004-cma-policies.toml` | seed 004: cma_alloc (bounded retries) against transient and long-term pins, "
      "forks, LRU batches and a fatal signal, with per-CPU page lists and failing migration targets (the cma job) |\n"
      "| `seed004-cma-uninterruptible.toml` | seed 004: the forever policy, long-term pins held in place and a fatal "
      "signal: the killed clients must leave cma_alloc |\n";
  for (const auto& [section, doc] : section_table()) {
    out += fmt::format("\n## [{}] — {}\n\n| key | type | default | range | meaning |\n|---|---|---|---|---|\n", section,
                       doc);
    for (const Knob& knob : knob_table())
      if (std::string_view(knob.section) == section)
        out += fmt::format("| `{}` | {} | `{}` | {} | {} |\n", knob.name, type_name(knob.type),
                           knob_value_text(knob, defaults), range_text(knob), knob.doc);
  }
  return out;
}

}  // namespace mmt::campaign
