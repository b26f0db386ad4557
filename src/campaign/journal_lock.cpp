// The journal's lock and the used-journal rule (journal_lock.h).
#include "mmtorture/campaign/journal_lock.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "mmtorture/campaign/config.h"

namespace mmt::campaign {

JournalLock::JournalLock(const std::string& journal) {
  const std::string path = journal + ".lock";
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw ConfigError(path, 0, "", fmt::format("cannot open the lock file: {}", std::strerror(errno)));
  struct flock lock {};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  if (::fcntl(fd_, F_SETLK, &lock) == 0) return;
  const int error = errno;
  struct flock holder {};
  holder.l_type = F_WRLCK;
  holder.l_whence = SEEK_SET;
  const bool known = ::fcntl(fd_, F_GETLK, &holder) == 0 && holder.l_type != F_UNLCK;
  ::close(fd_);
  fd_ = -1;
  if (error != EACCES && error != EAGAIN)
    throw ConfigError(path, 0, "", fmt::format("cannot lock: {}", std::strerror(error)));
  throw ConfigError(journal, 0, "",
                    fmt::format("another campaign{} is writing this journal; one journal takes one campaign at a "
                                "time (use another --out, or another --shard)",
                                known ? fmt::format(" (pid {})", static_cast<long>(holder.l_pid)) : std::string()));
}

JournalLock::~JournalLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the descriptor releases the lock
}

void check_journal_unused(const std::string& journal, bool resume, bool force) {
  std::error_code error;
  if (resume || force || !std::filesystem::exists(journal, error)) return;
  throw ConfigError(journal, 0, "",
                    "a campaign already wrote this journal: --resume continues it, --force starts over (replacing "
                    "it), or pick another --out");
}

}  // namespace mmt::campaign
