// The page_model job (page_model.cpp): the VMA manager diffed against a page-granular
// model (vma/page_model.h), run from a config.
#pragma once

#include "mmtorture/jobs/config.h"
#include "mmtorture/vma/page_model.h"

namespace mmt::jobs {

vma::PageModelOptions page_model_options(const Config& config);

}  // namespace mmt::jobs
