// Repro files: writing, atomic replacement and strict reading (repro.h).
#include "mmtorture/campaign/repro.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <map>
#include <unistd.h>

#ifndef MMT_VERSION
#define MMT_VERSION "0.0.0"
#endif
#ifndef MMT_COMMIT
#define MMT_COMMIT "unknown"
#endif

namespace mmt::campaign {

const char* tool_version() { return "mmtorture " MMT_VERSION; }
const char* tool_commit() { return MMT_COMMIT; }

std::string choice_label(const Choice& choice) {
  return fmt::format("{}@{}={}/{}", choice_kind_name(choice.kind), choice.site.name, choice.value, choice.bound);
}

std::vector<Choice> trim_choices(std::vector<Choice> choices) {
  while (!choices.empty() && choices.back().value == 0) choices.pop_back();
  return choices;
}

Repro make_repro(const Config& config, uint64_t seed, std::vector<Choice> choices, const Failure& failure,
                 uint64_t trace_hash, uint64_t ops) {
  Repro repro;
  repro.tool_version = tool_version();
  repro.config = config;
  repro.seed = seed;
  repro.choices = std::move(choices);
  repro.failure = failure;
  repro.trace_hash = trace_hash;
  repro.ops = ops;
  return repro;
}

std::string repro_to_json(const Repro& repro) {
  using nlohmann::json;
  std::string out = "{\n";
  out += fmt::format("  \"format\": {},\n", json(kReproFormat).dump());
  out += fmt::format("  \"tool_version\": {},\n", json(repro.tool_version).dump());
  out += fmt::format("  \"seed\": {},\n", repro.seed);
  out += fmt::format("  \"trace_hash\": \"{:016x}\",\n", repro.trace_hash);
  out += fmt::format("  \"ops\": {},\n", repro.ops);
  nlohmann::ordered_json failure;
  failure["check"] = repro.failure.check;
  failure["site"] = repro.failure.site;
  failure["message"] = repro.failure.message;
  failure["op_index"] = repro.failure.op_index;
  failure["virtual_ms"] = repro.failure.virtual_ms;
  failure["signature"] = repro.failure.signature();
  failure["signature_id"] = repro.failure.signature_id();
  out += fmt::format("  \"failure\": {},\n", failure.dump());
  out += fmt::format("  \"config\": {},\n", config_to_json(repro.config));
  out += "  \"choices\": [";
  for (size_t i = 0; i < repro.choices.size(); ++i) {
    const Choice& c = repro.choices[i];
    out += fmt::format("{}\n    [{}, {}, {}, {}]", i ? "," : "", json(choice_kind_name(c.kind)).dump(),
                       json(c.site.name).dump(), c.bound, c.value);
  }
  out += repro.choices.empty() ? "]\n}\n" : "\n  ]\n}\n";
  return out;
}

namespace {

uint64_t line_at(std::string_view text, size_t offset) {
  uint64_t line = 1;
  for (size_t i = 0; i < offset && i < text.size(); ++i)
    if (text[i] == '\n') ++line;
  return line;
}

// The line where `"key"` first appears (0 if it does not).
uint64_t line_of_key(std::string_view text, std::string_view key) {
  const size_t at = text.find(fmt::format("\"{}\"", key));
  return at == std::string_view::npos ? 0 : line_at(text, at);
}

Repro parse_repro_json(std::string_view text, const std::string& file);

}  // namespace

namespace {

// Repros written before check names carried their module prefix name the check the old
// way; replay compares signatures, so such a repro is read under today's name (the job
// tells which module's leak or validate_mm it was, the message which RCU rule).
std::string check_of_older_repro(const std::string& check, const std::string& message, const std::string& job) {
  if (check.starts_with("mt_validate.")) return "maple." + check;
  if (check == "leak") return job == "nommu" ? "nommu.leak" : job == "cma" ? "cma.leak" : "vma.leak";
  if (check == "validate_mm") return job == "nommu" ? "nommu.validate_mm" : "vma.validate_mm";
  if (check == "rcu") return message.starts_with("rcu_read_unlock") ? "rcu.unbalanced_unlock" : "rcu.sync_in_reader";
  static constexpr std::pair<std::string_view, std::string_view> kRenamed[] = {
      {"validate_mm.all", "vma.validate_mm.all"},
      {"committed_accounting", "vma.committed_accounting"},
      {"page_mapcount", "mem.page_mapcount"},
      {"swap_count", "mem.swap_count"},
      {"lock", "maple.lock"},
      {"BUG", "maple.bug"},
      {"model_diff", "maple.model_diff"},
      {"node_accounting", "maple.node_accounting"},
      {"deadlock", "sched.deadlock"},
      {"hang", "sched.hang"},
      {"livelock", "sched.livelock"},
      {"might_sleep", "sched.might_sleep"},
      {"preempt_count", "sched.preempt_count"},
      {"thread.exception", "sched.thread_exception"},
      {"vm_world.unexpected_result", "world.unexpected_result"},
  };
  for (const auto& [old_name, name] : kRenamed)
    if (check == old_name) return std::string(name);
  return check;
}

}  // namespace

Repro parse_repro(std::string_view text, const std::string& file) {
  // Every error of the JSON library becomes our one-line ConfigError naming the file:
  // none may escape as a library exception (a number too large to hold, "8e508", is
  // an out_of_range thrown by the parser, not a parse_error).
  try {
    return parse_repro_json(text, file);
  } catch (const nlohmann::json::exception& e) {
    throw ConfigError(file, 0, "json", fmt::format("not a repro the reader can hold ({})", e.what()));
  }
}

namespace {

// Long because it reads the repro field by field, each with the error that names it.
Repro parse_repro_json(std::string_view text, const std::string& file) {
  using nlohmann::json;
  json root;
  try {
    root = json::parse(text);
  } catch (const json::parse_error& e) {
    throw ConfigError(file, line_at(text, e.byte ? e.byte - 1 : 0), "json", "not valid JSON");
  } catch (const json::exception& e) {
    throw ConfigError(file, 0, "json", fmt::format("not valid JSON for this reader ({})", e.what()));
  }
  auto fail = [&](const std::string& key, const std::string& reason) -> ConfigError {
    const std::string top = key.substr(0, key.find_first_of(".["));
    return ConfigError(file, line_of_key(text, top), key, reason);
  };
  if (!root.is_object()) throw ConfigError(file, 1, "", "expected a JSON object");
  auto need = [&](const char* key) -> const json& {
    if (!root.contains(key)) throw fail(key, "missing");
    return root[key];
  };
  const json& format = need("format");
  if (!format.is_string() || format.get<std::string>() != kReproFormat)
    throw fail("format", fmt::format("expected \"{}\"", kReproFormat));
  Repro repro;
  const json& version = need("tool_version");
  if (!version.is_string()) throw fail("tool_version", "expected a string");
  repro.tool_version = version.get<std::string>();
  const json& seed = need("seed");
  if (!seed.is_number_unsigned()) throw fail("seed", "expected a non-negative integer");
  repro.seed = seed.get<uint64_t>();
  const json& hash = need("trace_hash");
  if (!hash.is_string()) throw fail("trace_hash", "expected 16 hex digits");
  try {
    size_t used = 0;
    repro.trace_hash = std::stoull(hash.get<std::string>(), &used, 16);
    if (used != hash.get<std::string>().size()) throw std::invalid_argument("hex");
  } catch (const std::exception&) {
    throw fail("trace_hash", "expected 16 hex digits");
  }
  if (root.contains("ops")) {
    if (!root["ops"].is_number_unsigned()) throw fail("ops", "expected a non-negative integer");
    repro.ops = root["ops"].get<uint64_t>();
  }
  const json& failure = need("failure");
  if (!failure.is_object()) throw fail("failure", "expected an object");
  for (const char* key : {"check", "site", "message"}) {
    if (!failure.contains(key) || !failure[key].is_string()) throw fail(fmt::format("failure.{}", key), "expected a string");
  }
  repro.failure.check = failure["check"].get<std::string>();
  repro.failure.site = failure["site"].get<std::string>();
  repro.failure.message = failure["message"].get<std::string>();
  for (const char* key : {"op_index", "virtual_ms"}) {
    if (failure.contains(key) && !failure[key].is_number_unsigned())
      throw fail(fmt::format("failure.{}", key), "expected a non-negative integer");
  }
  repro.failure.op_index = failure.value("op_index", uint64_t{0});
  repro.failure.virtual_ms = failure.value("virtual_ms", uint64_t{0});
  const json& config = need("config");
  if (!config.is_object()) throw fail("config", "expected an object of sections");
  repro.config = config_from_json(config.dump(), file, line_of_key(text, "config"));
  const json& choices = need("choices");
  if (!choices.is_array()) throw fail("choices", "expected an array");
  const uint64_t choices_line = line_of_key(text, "choices");
  std::map<std::string, std::shared_ptr<std::string>> interned;
  for (size_t i = 0; i < choices.size(); ++i) {
    const json& c = choices[i];
    const std::string key = fmt::format("choices[{}]", i);
    auto bad = [&](const std::string& reason) { return ConfigError(file, choices_line + 1 + i, key, reason); };
    if (!c.is_array() || c.size() != 4) throw bad("expected [kind, site, bound, value]");
    if (!c[0].is_string()) throw bad("kind: expected a string");
    const auto kind = choice_kind_from_name(c[0].get<std::string>());
    if (!kind) throw bad(fmt::format("kind: unknown choice kind \"{}\"", c[0].get<std::string>()));
    if (!c[1].is_string()) throw bad("site: expected a string");
    if (!c[2].is_number_unsigned() || !c[3].is_number_unsigned()) throw bad("bound and value: expected non-negative integers");
    const uint64_t bound = c[2].get<uint64_t>(), value = c[3].get<uint64_t>();
    if (bound < 2 || value >= bound)
      throw bad(fmt::format("value {} is not below bound {} (or bound < 2)", value, bound));
    auto& name = interned[c[1].get<std::string>()];
    if (!name) {
      name = std::make_shared<std::string>(c[1].get<std::string>());
      repro.names.push_back(name);
    }
    repro.choices.push_back(Choice{*kind, Site{name->c_str()}, bound, value});
  }
  repro.failure.check = check_of_older_repro(repro.failure.check, repro.failure.message, repro.config.workload.job);
  return repro;
}

}  // namespace

std::string read_file(const std::string& path) {
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) throw ConfigError(path, 0, "", "is a directory, not a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path, 0, "", "cannot open the file");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

Repro load_repro(const std::string& path) { return parse_repro(read_file(path), path); }

void write_file_atomic(const std::string& path, const std::string& text) {
  const std::filesystem::path target(path);
  std::error_code error;
  if (target.has_parent_path()) std::filesystem::create_directories(target.parent_path(), error);
  if (error) throw IoError(fmt::format("{}: cannot create its directory: {}", path, error.message()));
  const std::string temp = fmt::format("{}.tmp.{}", path, static_cast<unsigned long>(::getpid()));
  std::FILE* f = std::fopen(temp.c_str(), "wb");
  if (!f) throw IoError(fmt::format("{}: cannot write: {}", temp, std::strerror(errno)));
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  if (std::fclose(f) != 0 || !ok) {
    std::remove(temp.c_str());
    throw IoError(fmt::format("{}: write failed: {}", temp, std::strerror(errno)));
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    std::remove(temp.c_str());
    throw IoError(fmt::format("{}: rename failed: {}", path, std::strerror(errno)));
  }
}

}  // namespace mmt::campaign
