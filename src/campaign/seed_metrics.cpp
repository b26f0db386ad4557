// Per-seed job metrics, their journal form and their campaign totals (seed_metrics.h).
#include "mmtorture/campaign/seed_metrics.h"

#include <bit>
#include <nlohmann/json.hpp>

namespace mmt::campaign {

using Json = nlohmann::ordered_json;

std::string seed_metrics_json(const SeedMetrics& metrics) {
  if (metrics.empty()) return "";
  Json j = Json::object();
  if (const auto& c = metrics.cma) {
    Json latency = Json::array();
    for (const auto& [ms, calls] : c->latency_ms) latency.push_back(Json::array({ms, calls}));
    j["cma"] = Json{{"policy", c->policy},   {"calls", c->calls},         {"failed", c->failed},
                    {"retries", c->retries}, {"busy", c->busy},           {"interrupted", c->interrupted},
                    {"enomem", c->enomem},   {"latency_ms", latency}};
  }
  if (const auto& n = metrics.nommu)
    j["nommu"] = Json{{"memory_mib", n->memory_mib},
                      {"oom", n->oom},
                      {"free_kib", n->free_kib},
                      {"largest_free_kib", n->largest_free_kib},
                      {"free_blocks_1mib", n->free_blocks_1mib}};
  return j.dump();
}

SeedMetrics seed_metrics_from_json(const std::string& text) {
  SeedMetrics metrics;
  if (text.empty()) return metrics;
  const auto j = nlohmann::json::parse(text);
  if (j.contains("cma")) {
    const auto& c = j.at("cma");
    CmaSeedMetrics m;
    m.policy = c.at("policy").get<std::string>();
    m.calls = c.at("calls").get<uint64_t>();
    m.failed = c.at("failed").get<uint64_t>();
    m.retries = c.at("retries").get<uint64_t>();
    m.busy = c.at("busy").get<uint64_t>();
    m.interrupted = c.at("interrupted").get<uint64_t>();
    m.enomem = c.at("enomem").get<uint64_t>();
    for (const auto& pair : c.at("latency_ms"))
      m.latency_ms.emplace_back(pair.at(0).get<uint64_t>(), pair.at(1).get<uint64_t>());
    metrics.cma = std::move(m);
  }
  if (j.contains("nommu")) {
    const auto& n = j.at("nommu");
    NommuSeedMetrics m;
    m.memory_mib = n.at("memory_mib").get<uint64_t>();
    m.oom = n.at("oom").get<bool>();
    m.free_kib = n.at("free_kib").get<uint64_t>();
    m.largest_free_kib = n.at("largest_free_kib").get<uint64_t>();
    m.free_blocks_1mib = n.at("free_blocks_1mib").get<uint64_t>();
    metrics.nommu = m;
  }
  return metrics;
}

unsigned latency_bucket(uint64_t ms) { return ms == 0 ? 0 : static_cast<unsigned>(std::bit_width(ms)); }

std::pair<uint64_t, uint64_t> latency_bucket_range(unsigned bucket) {
  if (bucket == 0) return {0, 0};
  const uint64_t first = uint64_t{1} << (bucket - 1);
  return {first, bucket >= 64 ? UINT64_MAX : (uint64_t{1} << bucket) - 1};
}

uint64_t LatencyDistribution::calls() const {
  uint64_t n = 0;
  for (const auto& [ms, calls] : calls_by_ms) n += calls;
  return n;
}

uint64_t LatencyDistribution::percentile_ms(uint64_t percent) const {
  const uint64_t n = calls();
  if (n == 0) return 0;
  const uint64_t rank = std::max<uint64_t>((percent * n + 99) / 100, 1);
  uint64_t seen = 0;
  for (const auto& [ms, calls] : calls_by_ms) {
    seen += calls;
    if (seen >= rank) return ms;
  }
  return max_ms();
}

std::vector<uint64_t> LatencyDistribution::histogram() const {
  if (calls_by_ms.empty()) return {};
  std::vector<uint64_t> buckets(latency_bucket(max_ms()) + 1, 0);
  for (const auto& [ms, calls] : calls_by_ms) buckets[latency_bucket(ms)] += calls;
  return buckets;
}

void JobTotals::add(const SeedMetrics& metrics) {
  if (const auto& c = metrics.cma) {
    CmaPolicyTotals& t = cma_by_policy[c->policy];
    ++t.seeds;
    t.calls += c->calls;
    t.failed += c->failed;
    t.retries += c->retries;
    t.busy += c->busy;
    t.interrupted += c->interrupted;
    t.enomem += c->enomem;
    for (const auto& [ms, calls] : c->latency_ms) t.latency.add(ms, calls);
  }
  if (const auto& n = metrics.nommu) {
    if (!nommu) nommu.emplace();
    ++nommu->seeds;
    if (n->oom) ++nommu->ooms;
    ++nommu->seeds_by_largest_free_kib[n->largest_free_kib];
  }
}

namespace {

Json latency_json(const LatencyDistribution& latency) {
  Json histogram = Json::array();
  const std::vector<uint64_t> buckets = latency.histogram();
  for (unsigned b = 0; b < buckets.size(); ++b) {
    const auto [first, last] = latency_bucket_range(b);
    histogram.push_back(Json::array({first, last, buckets[b]}));
  }
  return Json{{"calls", latency.calls()},
              {"p50_ms", latency.percentile_ms(50)},
              {"p99_ms", latency.percentile_ms(99)},
              {"max_ms", latency.max_ms()},
              {"histogram", histogram}};
}

}  // namespace

std::string job_totals_json(const JobTotals& totals) {
  if (totals.empty()) return "";
  Json j = Json::object();
  if (!totals.cma_by_policy.empty()) {
    Json policies = Json::array();
    for (const auto& [policy, t] : totals.cma_by_policy)
      policies.push_back(Json{{"policy", policy},   {"seeds", t.seeds},     {"calls", t.calls},
                              {"failed", t.failed}, {"retries", t.retries}, {"busy", t.busy},
                              {"interrupted", t.interrupted}, {"enomem", t.enomem},
                              {"latency_ms", latency_json(t.latency)}});
    j["cma"] = Json{{"policies", policies}};
  }
  if (const auto& n = totals.nommu) {
    Json largest = Json::array();
    for (const auto& [kib, seeds] : n->seeds_by_largest_free_kib) largest.push_back(Json::array({kib, seeds}));
    j["nommu"] = Json{{"seeds", n->seeds},
                      {"ooms", n->ooms},
                      {"oom_rate", n->seeds ? static_cast<double>(n->ooms) / static_cast<double>(n->seeds) : 0.0},
                      {"largest_free_kib", largest}};
  }
  return j.dump();
}

}  // namespace mmt::campaign
