// errno values by name (error_name.h). The table holds the values of Linux on every
// architecture we build for (asm-generic/errno-base.h and errno.h numbering).
#include "mmtorture/core/error_name.h"

#include <cerrno>
#include <string>

namespace mmt {

namespace {
struct ErrorName {
  int value;
  const char* name;
};
constexpr ErrorName kErrorNames[] = {
    {EPERM, "EPERM"},   {ENOENT, "ENOENT"}, {ESRCH, "ESRCH"},   {EINTR, "EINTR"},     {EIO, "EIO"},
    {E2BIG, "E2BIG"},   {EAGAIN, "EAGAIN"}, {ENOMEM, "ENOMEM"}, {EACCES, "EACCES"},   {EFAULT, "EFAULT"},
    {EBUSY, "EBUSY"},   {EEXIST, "EEXIST"}, {ENODEV, "ENODEV"}, {EINVAL, "EINVAL"},   {ENFILE, "ENFILE"},
    {EMFILE, "EMFILE"}, {ENOSPC, "ENOSPC"}, {ERANGE, "ERANGE"}, {EOVERFLOW, "EOVERFLOW"},
};
}  // namespace

std::string error_name(long ret) {
  if (ret < 0)
    for (const ErrorName& error : kErrorNames)
      if (-ret == error.value) return std::string("-") + error.name;
  return std::to_string(ret);
}

}  // namespace mmt
