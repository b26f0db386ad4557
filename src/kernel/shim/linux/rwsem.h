/* SPDX-License-Identifier: GPL-2.0-only */
/* mmtorture kernel shim: everything is in mmtk_shim.h. */
#include "mmtk_shim.h"
