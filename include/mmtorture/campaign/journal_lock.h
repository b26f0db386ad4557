// One writer per journal. A campaign holds an exclusive lock on <journal>.lock (a POSIX
// record lock: released by the kernel when the process dies, even by SIGKILL, and not
// inherited by the forked workers) for as long as it writes the journal, so two
// campaigns into one --out cannot both append to one journal, while the shards of one
// campaign (each its own journal) share an output root freely. A journal left by an
// earlier campaign is continued only with --resume or replaced only with --force.
#pragma once

#include <string>

namespace mmt::campaign {

class JournalLock {
 public:
  // Locks `journal` (creating <journal>.lock and its directory). Throws ConfigError
  // naming the journal and the holder's pid when another process holds it.
  explicit JournalLock(const std::string& journal);
  ~JournalLock();
  JournalLock(const JournalLock&) = delete;
  JournalLock& operator=(const JournalLock&) = delete;

 private:
  int fd_ = -1;
};

// What a campaign may do with an existing journal: nothing there, --resume or --force
// pass; otherwise throws ConfigError naming the journal and both flags.
void check_journal_unused(const std::string& journal, bool resume, bool force);

}  // namespace mmt::campaign
