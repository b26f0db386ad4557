// `mmtorture merge`: joins the shards of one campaign into one journal and one
// summary.json, and tells a batch system whether it can trust the result. Given an
// output root it finds every journal.shard-K-of-N.jsonl in it (or a lone
// journal.jsonl); given journals it takes those. It checks that every journal has its
// summary beside it and that all of them share one config hash, seed range and shard
// count N (else exit 2, one line naming the file), then that shards 1..N are all there
// and every seed of each shard's slice is journaled: each missing shard and each run of
// missing seeds is named and the exit code is 1. Failures with one signature are
// grouped over the shards; `--shrink` shrinks one repro per signature.
#pragma once

#include <string>
#include <vector>

namespace mmt::campaign {

struct MergeOptions {
  std::vector<std::string> inputs;  // one output root, or shard journals
  std::string out_dir;              // where journal.jsonl and summary.json go; "" = the root / the journals' folder
  bool shrink = false;              // shrink the first repro of each signature that has no shrunk repro yet
};

// Exit code: 0 complete and clean, 1 incomplete or failures found; bad input throws
// ConfigError (exit 2). The merged journal is written only for a complete set;
// summary.json always (its "complete" and "missing" say what is missing).
int merge_campaign(const MergeOptions& options);

}  // namespace mmt::campaign
