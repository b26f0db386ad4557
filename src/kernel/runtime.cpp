// SPDX-License-Identifier: GPL-2.0-only
// The shim's runtime: the functions mmtk_shim.h declares, called by the kernel's C
// code, implemented on mmtorture's scheduler (SpinLock), RCU backend, slab (KmemCache
// with its fault plan) and Failure. Everything the kernel code does goes through the
// KernelEnv installed for the run.
#include <fmt/format.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "mmtorture/core/defects.h"
#include "mmtorture/core/failure.h"
#include "mmtorture/core/rcu.h"
#include "mmtorture/kernel/kernel_tree.h"
#include "mmtorture/sched/mutex.h"
#include "mmtorture/sched/spinlock.h"
#include "mmtorture/sched/yield_point.h"
#include "shim/mmtk_runtime.h"
#include "tree_api.h"

// The shim's GFP bits are mmt::gfp's, so a kernel gfp_t is handed over unchanged.
static_assert(GFP_KERNEL == mmt::gfp::kKernel && GFP_NOWAIT == mmt::gfp::kNowait && GFP_ATOMIC == mmt::gfp::kAtomic &&
              __GFP_NOFAIL == mmt::gfp::kNofail && __GFP_ZERO == mmt::gfp::kZero && __GFP_HIGH == mmt::gfp::kHigh);
static_assert(sizeof(rcu_head) == sizeof(mmt::RcuHead) && offsetof(rcu_head, func) == offsetof(mmt::RcuHead, func));

namespace mmt::kernel {

namespace {
constexpr Site kSiteAlloc{"maple_node: kmem_cache_alloc"};
constexpr Site kSiteAllocBulk{"maple_node: kmem_cache_alloc_bulk"};
constexpr Site kSiteSpinLock{"kernel: spin_lock"};
constexpr Site kSiteSpinUnlock{"kernel: spin_unlock"};
constexpr Site kSiteAccess{"kernel: READ_ONCE/WRITE_ONCE (an RCU access point)"};
constexpr Site kSiteCondResched{"kernel: cond_resched"};
constexpr size_t kLogMaxBytes = 4u << 20;  // a runaway dump is cut, not unbounded

KernelEnv* current_env = nullptr;
uint64_t epochs = 0;

// The spin locks and RCU sections the kernel code holds, per environment, so a run
// that failed inside the kernel (an exception through its frames) leaves the host
// thread's bookkeeping clean for the next run.
struct EnvState {
  std::vector<std::unique_ptr<sched::SpinLock>> locks;
  int host_rcu_depth = 0;
};
std::vector<std::unique_ptr<EnvState>> env_states;  // one per live environment, innermost last

// The kmem_cache the kernel creates: which cache it asked for (its node size). Objects
// come from the environment's KmemCache.
struct ShimCache {
  std::string name;
  unsigned size;
  unsigned align;
};

std::string basename_of(const char* file) {
  const char* slash = std::strrchr(file, '/');
  return slash ? slash + 1 : file;
}
}  // namespace

// The private parts the C hooks need.
struct ShimAccess {
  static uint64_t epoch(const KernelEnv& env) { return env.epoch_; }
  static void count_request(KernelEnv& env, size_t nodes, bool failed) {
    ++env.requests_;
    env.nodes_requested_ += nodes;
    if (failed) ++env.request_failures_;
  }
};

KernelEnv::KernelEnv(mem::KmemCache& nodes) : nodes_(nodes), epoch_(++epochs), previous_(current_env) {
  if (nodes.object_size() < 256)
    raise_failure("kernel.env", "KernelEnv", fmt::format("node cache '{}' has {}-byte objects; maple nodes need 256",
                                                         nodes.name(), nodes.object_size()));
  env_states.push_back(std::make_unique<EnvState>());
  current_env = this;
}

KernelEnv::~KernelEnv() {
  release_held();
  env_states.pop_back();
  current_env = previous_;
}

void KernelEnv::release_held() {
  EnvState& state = *env_states.back();
  // A failure thrown through the kernel's frames may have left its locks held.
  sched::Thread& host = sched::host_thread();
  for (auto& lock : state.locks)
    if (lock->owner() == &host) lock->unlock();
  for (; state.host_rcu_depth > 0; --state.host_rcu_depth) rcu_backend().read_unlock();
}

KernelEnv& KernelEnv::current() {
  if (!current_env) raise_failure("kernel.no_env", "kernel shim", "the kernel backend ran without a KernelEnv");
  return *current_env;
}

std::string KernelEnv::take_log() {
  std::string text;
  text.swap(log_);
  return text;
}

void KernelEnv::print(std::string_view text) {
  if (log_.size() < kLogMaxBytes) log_.append(text.substr(0, kLogMaxBytes - log_.size()));
}

const char* kernel_version() { return mmtk_kernel_version(); }

void set_rcu_access_points(bool on) { mmtk_rcu_access_points = on ? 1 : 0; }

}  // namespace mmt::kernel

using mmt::kernel::KernelEnv;
using mmt::kernel::ShimAccess;

extern "C" {

void mmtk_shim_printk(const char* format, ...) {
  char buffer[512];
  va_list args;
  va_start(args, format);
  const int n = std::vsnprintf(buffer, sizeof buffer, format, args);
  va_end(args);
  if (n > 0)
    KernelEnv::current().print(std::string_view(buffer, std::min<size_t>(static_cast<size_t>(n), sizeof buffer - 1)));
}

void mmtk_shim_bug(const char* file, int line, const char* func, const char* cond) {
  KernelEnv& env = KernelEnv::current();
  mmt::raise_failure("kernel.bug", func,
                     fmt::format("BUG_ON({}) at {}:{}", cond, mmt::kernel::basename_of(file), line), env.take_log());
}

void mmtk_shim_warn(const char* file, int line, const char* func, const char* cond) {
  // The kernel carries on after a WARN; a stress run treats it as the failure it reports.
  KernelEnv& env = KernelEnv::current();
  mmt::raise_failure("kernel.warn", func,
                     fmt::format("WARN_ON({}) at {}:{}", cond, mmt::kernel::basename_of(file), line), env.take_log());
}

// With CONFIG_DEBUG_MAPLE_TREE, MT_BUG_ON / MAS_BUG_ON / MAS_WARN_ON (and their _WR_
// forms) print "BUG at <func>:<line> (<value>)" or "WARN at ...", dump the tree and
// the state, then call dump_stack(): the failure is the last such line.
void mmtk_shim_dump_stack(void) {
  KernelEnv& env = KernelEnv::current();
  std::string log = env.take_log();
  size_t at = std::string::npos;
  for (const char* marker : {"BUG at ", "WARN at "}) {
    const size_t found = log.rfind(marker);
    if (found != std::string::npos && (at == std::string::npos || found > at)) at = found;
  }
  if (at == std::string::npos) mmt::raise_failure("kernel.dump_stack", "dump_stack", "dump_stack() called", log);
  const size_t eol = log.find('\n', at);
  const std::string line = log.substr(at, eol == std::string::npos ? std::string::npos : eol - at);
  const bool bug = line.rfind("BUG", 0) == 0;
  const size_t name_start = line.find(' ', line.find(' ') + 1) + 1;  // after "BUG at "
  const std::string func = line.substr(name_start, line.find(':', name_start) - name_start);
  mmt::raise_failure(bug ? "kernel.mt_bug" : "kernel.mt_warn", func, line, log);
}

void mmtk_shim_spin_lock_init(spinlock_t* lock) {
  lock->impl = nullptr;
  lock->epoch = 0;
}

namespace {
mmt::sched::SpinLock& spin_lock_of(spinlock_t* lock) {
  KernelEnv& env = KernelEnv::current();
  if (!lock->impl || lock->epoch != ShimAccess::epoch(env)) {
    auto& locks = mmt::kernel::env_states.back()->locks;
    locks.push_back(std::make_unique<mmt::sched::SpinLock>("kernel maple_tree.ma_lock"));
    lock->impl = locks.back().get();
    lock->epoch = ShimAccess::epoch(env);
  }
  return *static_cast<mmt::sched::SpinLock*>(lock->impl);
}

// The userspace suite's environment (mmtk_shim_userspace): its spin locks are pthread
// mutexes, so holding the tree's lock is not atomic context there.
bool userspace_locks = false;
mmt::sched::Mutex& userspace_lock_of(spinlock_t* lock) {
  KernelEnv& env = KernelEnv::current();
  static std::vector<std::unique_ptr<mmt::sched::Mutex>> locks;  // one check per process
  if (!lock->impl || lock->epoch != ShimAccess::epoch(env)) {
    locks.push_back(std::make_unique<mmt::sched::Mutex>("kernel maple_tree.ma_lock (userspace)"));
    lock->impl = locks.back().get();
    lock->epoch = ShimAccess::epoch(env);
  }
  return *static_cast<mmt::sched::Mutex*>(lock->impl);
}
}  // namespace

void mmtk_shim_spin_lock(spinlock_t* lock, unsigned int subclass) {
  if (userspace_locks) {
    if (subclass) userspace_lock_of(lock).lock_nested(subclass, mmt::kernel::kSiteSpinLock);
    else userspace_lock_of(lock).lock(mmt::kernel::kSiteSpinLock);
    return;
  }
  mmt::sched::SpinLock& spin = spin_lock_of(lock);
  if (subclass) spin.lock_nested(subclass, mmt::kernel::kSiteSpinLock);
  else spin.lock(mmt::kernel::kSiteSpinLock);
}

void mmtk_shim_spin_unlock(spinlock_t* lock) {
  if (userspace_locks) userspace_lock_of(lock).unlock(mmt::kernel::kSiteSpinUnlock);
  else spin_lock_of(lock).unlock(mmt::kernel::kSiteSpinUnlock);
}

int mmtk_shim_spin_is_locked(spinlock_t* lock) {
  return userspace_locks ? userspace_lock_of(lock).is_locked() : spin_lock_of(lock).is_locked();
}

int mmtk_rcu_access_points = 0;

void mmtk_shim_access_point(void) { mmt::sched::yield_point(mmt::kernel::kSiteAccess); }

void mmtk_shim_cond_resched(void) { mmt::sched::yield_point(mmt::kernel::kSiteCondResched); }

void mmtk_shim_rcu_read_lock(void) {
  mmt::rcu_backend().read_lock();
  if (!mmt::sched::current_thread()) ++mmt::kernel::env_states.back()->host_rcu_depth;
}

void mmtk_shim_rcu_read_unlock(void) {
  if (!mmt::sched::current_thread()) --mmt::kernel::env_states.back()->host_rcu_depth;
  mmt::rcu_backend().read_unlock();
}

void mmtk_shim_call_rcu(struct rcu_head* head, void (*func)(struct rcu_head* head)) {
  // CANARY rcu-free-without-grace-period, in the kernel's code: the callback (the node's
  // free) runs at once, while lock-free readers may still be inside the node.
  if (mmt::defect_enabled(mmt::Defect::RcuFreeWithoutGracePeriod)) {
    func(head);
    return;
  }
  mmt::rcu_backend().call_rcu(reinterpret_cast<mmt::RcuHead*>(head), reinterpret_cast<void (*)(mmt::RcuHead*)>(func));
}

void mmtk_shim_synchronize_rcu(void) { mmt::rcu_backend().synchronize_rcu(); }
void mmtk_shim_rcu_barrier(void) { mmt::rcu_backend().rcu_barrier(); }

struct kmem_cache* mmtk_shim_kmem_cache_create(const char* name, unsigned int size, unsigned int align, slab_flags_t,
                                               void (*ctor)(void*)) {
  if (ctor) mmt::raise_failure("kernel.kmem_cache_create", name, "the shim's caches take no constructor");
  // The kernel creates its caches once, at boot; they live for the process.
  static std::vector<std::unique_ptr<mmt::kernel::ShimCache>> caches;
  caches.push_back(std::make_unique<mmt::kernel::ShimCache>(mmt::kernel::ShimCache{name, size, align}));
  return reinterpret_cast<struct kmem_cache*>(caches.back().get());
}

namespace {
mmt::mem::KmemCache& cache_for(struct kmem_cache* cache) {
  KernelEnv& env = KernelEnv::current();
  const auto* shim = reinterpret_cast<const mmt::kernel::ShimCache*>(cache);
  if (shim->size > env.nodes().object_size())
    mmt::raise_failure("kernel.kmem_cache", shim->name,
                       fmt::format("{}-byte objects asked of the {}-byte cache '{}'", shim->size,
                                   env.nodes().object_size(), env.nodes().name()));
  return env.nodes();
}
}  // namespace

namespace {
// mmtk_shim_userspace(): the userspace suite's slab (tools/testing/shared/linux.c).
struct UserspaceSlab {
  bool on = false;
  unsigned non_kernel = 0;
  // mt_set_callback(): called on the request after one that failed (the suite makes a
  // second writer race mas_nomem's unlocked allocation with it), with mt_set_private's.
  void (*callback)(void*) = nullptr;
  void* private_data = nullptr;
  bool exec_callback = false;
};
UserspaceSlab userspace_slab;
// How many of `size` non-sleeping objects the budget grants (all of them when the
// userspace slab is off or the request may sleep), taking them off it.
size_t userspace_grant(gfp_t gfp, size_t size) {
  if (!userspace_slab.on || (gfp & __GFP_DIRECT_RECLAIM)) return size;
  const size_t granted = std::min<size_t>(size, userspace_slab.non_kernel);
  userspace_slab.non_kernel -= static_cast<unsigned>(granted);
  return granted;
}
}  // namespace

void mmtk_shim_userspace(int on) {
  userspace_slab = UserspaceSlab{};
  userspace_slab.on = on != 0;
  userspace_locks = on != 0;
}
void mmtk_shim_set_non_kernel(unsigned int budget) { userspace_slab.non_kernel = budget; }

void mmtk_shim_set_callback(void (*callback)(void*)) { userspace_slab.callback = callback; }
void mmtk_shim_set_private(void* private_data) { userspace_slab.private_data = private_data; }

void* mmtk_shim_kmem_cache_alloc(struct kmem_cache* cache, gfp_t gfp) {
  if (userspace_slab.exec_callback) {
    userspace_slab.exec_callback = false;
    if (userspace_slab.callback) userspace_slab.callback(userspace_slab.private_data);
  }
  if (userspace_grant(gfp, 1) == 0) {
    userspace_slab.exec_callback = true;
    ShimAccess::count_request(KernelEnv::current(), 1, true);
    return nullptr;
  }
  void* object = cache_for(cache).alloc(gfp, mmt::kernel::kSiteAlloc);
  ShimAccess::count_request(KernelEnv::current(), 1, object == nullptr);
  return object;
}

int mmtk_shim_kmem_cache_alloc_bulk(struct kmem_cache* cache, gfp_t gfp, size_t size, void** p) {
  if (userspace_grant(gfp, size) < size) {
    ShimAccess::count_request(KernelEnv::current(), size, size != 0);
    return 0;
  }
  const size_t got = cache_for(cache).alloc_bulk(gfp, size, p, mmt::kernel::kSiteAllocBulk);
  ShimAccess::count_request(KernelEnv::current(), size, got == 0 && size != 0);
  return static_cast<int>(got);
}

void mmtk_shim_kmem_cache_free(struct kmem_cache* cache, void* object) { cache_for(cache).free(object); }

void mmtk_shim_kmem_cache_free_bulk(struct kmem_cache* cache, size_t size, void** p) {
  mmt::mem::KmemCache& nodes = cache_for(cache);
  for (size_t i = 0; i < size; ++i) nodes.free(p[i]);
}

}  // extern "C"
