// The JSON form of a Coverage (coverage.h) inside the campaign's own JSON documents:
// journal lines and worker reports.
#pragma once

#include <nlohmann/json.hpp>

#include "mmtorture/campaign/coverage.h"

namespace mmt::campaign {

// {"sites":{"site/class":[requests,injected]},"outcomes":{"op":{"outcome":n}}}
nlohmann::ordered_json coverage_to_json(const Coverage& coverage);
// Throws nlohmann::json::exception on anything else.
Coverage coverage_from_json(const nlohmann::json& j);

}  // namespace mmt::campaign
