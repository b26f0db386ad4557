// SPDX-License-Identifier: GPL-2.0-only
// The model flavour of the conformance runner: everything is in maple_tree.h.
#pragma once
#include <linux/maple_tree.h>
