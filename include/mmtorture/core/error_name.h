// error_name: a kernel return value as a kernel developer reads it ("-ENOMEM", not
// "-12"), for the traces and timelines replay prints.
#pragma once

#include <string>

namespace mmt {

// "-ENOMEM" for -12 and the other errno values the models return; a negative value
// without a name prints as the number ("-4095"), and so does anything >= 0.
std::string error_name(long ret);

}  // namespace mmt
