// A nommu board booting (seed 001, half 2): the kernel reserves its memory and unpacks
// the rootfs into the page cache, then init and the rc script start processes — each
// a fork (an order-1 kernel stack) and an exec that copies the program's text into one
// alloc_pages_exact region and its data+bss+stack into another (a flat binary on a
// root filesystem that cannot be mapped in place) — which malloc (uClibc on nommu
// mmaps every chunk), free, occasionally give back part of a chunk, log through
// syslogd into tmpfs page cache, and exit. The script is a seed-drawn sequence of
// steps; the boot fails (OOM) when any allocation fails, as on Guenter Roeck's 32 MiB
// qemu board where an order-7 (1 MiB) text allocation found no free block.
//
// Every decision is drawn from the ChoiceSource (ChoiceKind::Op for the step,
// ChoiceKind::Arg for its arguments); allocation never draws, so the same seed gives
// the same script under every memory size and preallocation order until one of them
// runs out of memory — differences come from placement alone. After every step each
// process's tree passes validate_nommu_mm (mt_validate included) and every region
// owns its pages (check_regions); every `full_check_every` steps the whole of memory
// and the slabs are checked (the VM world's "every-n" checks); at teardown nothing may
// be left (the VM world's "teardown" checks, the region slab empty, every frame free).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mmtorture/core/choice.h"
#include "mmtorture/core/failure.h"
#include "mmtorture/nommu/mm.h"

namespace mmt::nommu {

// A program the boot runs: text copied into its own region, data+bss+stack in another.
struct Program {
  const char* name;
  unsigned text_kib;
  unsigned data_kib;
};
// busybox (init, sh, applets, syslogd ...), dropbear, and the board's application.
const std::vector<Program>& boot_programs();

struct NommuBootOptions {
  uint64_t memory_mib = 32;  // 8..1024, a whole number of 2 MiB pageblocks
  PreallocOrder prealloc = PreallocOrder::After;
  bool exact_free_to_tail = false;  // MemConfig::exact_free_to_tail: Liam's allocator change
  // A nommu kernel batches no frees: zone_batchsize() and zone_highsize() return 0
  // without CONFIG_MMU, so every free reaches the buddy lists at once — deliberately,
  // since frees held back in per-CPU batches come back as scattered order-0 pages and
  // break up the large blocks nommu needs. true = the what-if of MMU-sized per-CPU lists
  // (mem::pcp_for_zone), to measure that.
  bool pcp = false;
  // Kernel image, memory map and boot-time reservations; 0 = 4 MiB + 24 KiB per MiB
  // (the 32 MiB board of the thread reports 4840K reserved).
  uint64_t reserved_kib = 0;
  uint64_t rootfs_kib = 3072;  // the initramfs unpacked into ramfs page cache
  unsigned boot_steps = 300;   // steps of the rc script
  unsigned daemons_max = 6;    // long-lived services started at most
  unsigned log_pages_max = 100;  // syslogd rotates /var/log/messages beyond this many pages
  unsigned full_check_every = 16;  // steps between whole-memory and slab checks (0: only at the end)
};

struct NommuBootResult {
  bool oom = false;          // the boot ran out of memory
  std::string oom_what;      // what could not be allocated ("exec busybox: text 880 KiB, order 8")
  unsigned oom_order = 0;    // the order of the failed request
  uint64_t oom_step = 0;
  std::optional<Failure> failure;  // a check failed: a bug, never an OOM
  uint64_t steps = 0;              // steps run (the OOM step included)
  uint64_t processes = 0;          // processes started
  // At the end of the script, or at the OOM:
  uint64_t free_pages = 0;
  unsigned largest_free_order = 0;
  uint64_t free_blocks_1mib = 0;  // free blocks of 1 MiB (order 8) or more
  NommuContext::Stats stats;
  uint64_t trace_hash = 0;
};

// Throws ConfigError naming the option (memory_mib: 8..1024, even).
void check_boot_options(const NommuBootOptions& options);

// One boot: builds the world, runs the script, measures, tears down, checks for leaks.
// Checks its options first (check_boot_options).
NommuBootResult run_nommu_boot(ChoiceSource& choices, const NommuBootOptions& options);

}  // namespace mmt::nommu
