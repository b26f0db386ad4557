// SPDX-License-Identifier: GPL-2.0-only
// The model flavour's environment (model_env.cpp): declared in model/linux/maple_tree.h
// for the test file; this is what the runner itself uses.
#pragma once

#include <string>

// What the model flavour's printk and dumps wrote since the last call.
std::string mmtk_model_take_log();
