// Event rings that outlive a crashed worker (shared_event_log.h).
#include "mmtorture/campaign/shared_event_log.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

namespace mmt::campaign {

struct SharedEventLog::Header {
  volatile uint64_t count;  // records written in all; record k sits at k % kRecords
};

struct SharedEventLog::Name {
  char text[47];
  volatile uint8_t state;  // 0: unused, 1: named, 2: named daemon
};

struct SharedEventLog::Record {
  uint64_t seq;
  uint64_t virtual_ms;
  uint64_t recorded;  // the thread's count of events once this one was recorded
  uint64_t choices;   // the event's fields the timelines draw from (EventLog::Event)
  uint32_t peer;
  uint32_t thread;
  uint32_t length;
  uint32_t object_length;
  uint8_t kind;
  char object[63];
  char text[224];
};

namespace {

constexpr const char kCut[] = " [cut]";

template <typename T>
T* at_offset(void* base, size_t offset) {
  return reinterpret_cast<T*>(static_cast<char*>(base) + offset);
}

void copy_text(char* out, size_t capacity, uint32_t& length, const std::string& text) {
  if (text.size() <= capacity) {
    std::memcpy(out, text.data(), text.size());
    length = static_cast<uint32_t>(text.size());
    return;
  }
  const size_t keep = capacity - (sizeof kCut - 1);
  std::memcpy(out, text.data(), keep);
  std::memcpy(out + keep, kCut, sizeof kCut - 1);
  length = static_cast<uint32_t>(capacity);
}

}  // namespace

sched::EventLog::Event SharedEventLog::event_of(const Record& record) {
  sched::EventLog::Event event;
  event.seq = record.seq;
  event.virtual_ms = record.virtual_ms;
  event.text.assign(record.text, std::min<size_t>(record.length, sizeof record.text));
  event.kind = static_cast<sched::EventKind>(record.kind);
  event.object.assign(record.object, std::min<size_t>(record.object_length, sizeof record.object));
  event.peer = record.peer;
  event.choices = record.choices;
  return event;
}

SharedEventLog::SharedEventLog(size_t per_thread) : per_thread_(per_thread) {
  if (per_thread == 0) throw std::invalid_argument("SharedEventLog: per_thread must be at least 1");
  const size_t names_at = 64;
  const size_t records_at = names_at + kThreads * sizeof(Name);
  bytes_ = records_at + kRecords * sizeof(Record);
  // Reserved, not committed: pages are touched only as records are written.
  void* p = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw std::runtime_error("shared event log: mmap failed");
  header_ = static_cast<Header*>(p);
  names_ = at_offset<Name>(p, names_at);
  records_ = at_offset<Record>(p, records_at);
  header_->count = 0;
}

SharedEventLog::~SharedEventLog() { ::munmap(header_, bytes_); }

void SharedEventLog::ring_changed(const sched::EventLog::ThreadEvents& ring) {
  if (ring.id < kThreads && names_[ring.id].state == 0 && !ring.name.empty()) {
    Name& name = names_[ring.id];
    const size_t n = std::min(ring.name.size(), sizeof name.text - 1);
    std::memcpy(name.text, ring.name.data(), n);
    name.text[n] = '\0';
    name.state = ring.daemon ? 2 : 1;
  }
  if (ring.recorded == 0) return;
  if (ring.id >= newest_.size()) newest_.resize(ring.id + 1);
  Newest& newest = newest_[ring.id];
  const sched::EventLog::Event& event = ring.ring[(ring.recorded - 1) % ring.ring.size()];
  const bool rewrite = newest.recorded == ring.recorded && header_->count > 0 &&
                       header_->count - newest.record <= kRecords;
  const uint64_t index = rewrite ? newest.record : header_->count;
  Record& record = records_[index % kRecords];
  record.seq = event.seq;
  record.virtual_ms = event.virtual_ms;
  record.recorded = ring.recorded;
  record.thread = ring.id;
  record.choices = event.choices;
  record.peer = event.peer;
  record.kind = static_cast<uint8_t>(event.kind);
  copy_text(record.object, sizeof record.object, record.object_length, event.object);
  copy_text(record.text, sizeof record.text, record.length, event.text);
  newest = Newest{ring.recorded, index};
  if (!rewrite) header_->count = index + 1;  // publishes the complete record
}

std::unique_ptr<sched::EventLog> SharedEventLog::rebuild() const {
  auto log = std::make_unique<sched::EventLog>(per_thread_);
  struct Thread {
    uint64_t recorded = 0;
    std::vector<sched::EventLog::Event> newest_first;
  };
  std::vector<Thread> threads;
  const uint64_t count = header_->count;
  const uint64_t oldest = count > kRecords ? count - kRecords : 0;
  for (uint64_t k = count; k-- > oldest;) {
    const Record& record = records_[k % kRecords];
    if (record.thread >= threads.size()) threads.resize(record.thread + 1);
    Thread& thread = threads[record.thread];
    if (thread.newest_first.empty()) thread.recorded = record.recorded;
    if (thread.newest_first.size() == per_thread_) continue;
    thread.newest_first.push_back(event_of(record));
  }
  const size_t ids = std::max(threads.size(), static_cast<size_t>(kThreads));
  for (size_t id = 0; id < ids; ++id) {
    const bool named = id < kThreads && names_[id].state != 0;
    const bool recorded = id < threads.size() && !threads[id].newest_first.empty();
    if (!named && !recorded) continue;
    std::vector<sched::EventLog::Event> events;
    uint64_t total = 0;
    if (recorded) {
      events.assign(threads[id].newest_first.rbegin(), threads[id].newest_first.rend());
      total = threads[id].recorded;
    }
    const std::string name = named ? std::string(names_[id].text) : std::string("?");
    log->adopt(static_cast<uint32_t>(id), name, named && names_[id].state == 2, total, std::move(events));
  }
  return log;
}

std::vector<sched::EventLog::HistoryEvent> SharedEventLog::history() const {
  const uint64_t count = header_->count;
  std::vector<sched::EventLog::HistoryEvent> events;
  for (uint64_t k = lost(); k < count; ++k) {
    const Record& record = records_[k % kRecords];
    events.push_back(sched::EventLog::HistoryEvent{record.thread, event_of(record)});
  }
  return events;
}

uint64_t SharedEventLog::recorded() const { return header_->count; }

uint64_t SharedEventLog::lost() const { return header_->count > kRecords ? header_->count - kRecords : 0; }

}  // namespace mmt::campaign
