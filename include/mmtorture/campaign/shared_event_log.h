// The last events of a replay's green threads, kept in memory shared with the worker
// process that runs the replay. A crash repro is replayed in a worker (the crash would
// take `replay` down with it); the worker's EventLog mirrors every change into this
// buffer as it happens, so when the worker dies of a signal the parent still prints
// what each thread did last, exactly as an in-process replay prints it.
//
// Layout: one ring of fixed-size records for all threads (the newest kRecords events
// of the run, each with what the timelines draw: kind, object, peer, choices drawn),
// plus a table of thread names. A record is complete before the count
// that publishes it moves, so a crash never exposes a half-written new record; an
// event's text longer than a record holds is cut (and says so).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "mmtorture/sched/event_log.h"

namespace mmt::campaign {

class SharedEventLog final : public sched::EventLog::Mirror {
 public:
  // Keeps enough for `per_thread` events of each thread (as EventLog does) as long as
  // the run's last kRecords events hold them.
  explicit SharedEventLog(size_t per_thread);
  ~SharedEventLog() override;
  SharedEventLog(const SharedEventLog&) = delete;
  SharedEventLog& operator=(const SharedEventLog&) = delete;

  // Worker side: called by the mirrored EventLog.
  void ring_changed(const sched::EventLog::ThreadEvents& ring) override;

  // Parent side, after the worker ended: the recorded events as a log to print.
  std::unique_ptr<sched::EventLog> rebuild() const;
  // Parent side: the newest kRecords events of the run in seq order, with their kind,
  // object and peer — a history for the timelines (replay --html, --perfetto of a
  // crash repro); recorded() events in all, the oldest lost() of them not kept.
  std::vector<sched::EventLog::HistoryEvent> history() const;
  uint64_t recorded() const;
  uint64_t lost() const;

  static constexpr size_t kRecords = size_t{1} << 18;
  static constexpr size_t kThreads = 4096;  // names kept for thread ids below this

 private:
  struct Header;
  struct Name;
  struct Record;
  static sched::EventLog::Event event_of(const Record& record);
  size_t per_thread_;
  size_t bytes_;
  Header* header_;
  Name* names_;
  Record* records_;
  // Worker side (private memory): each thread's count of events and the index of its
  // newest record, to tell a new event from a rewrite of the newest one.
  struct Newest {
    uint64_t recorded = 0;
    uint64_t record = 0;
  };
  std::vector<Newest> newest_;
};

}  // namespace mmt::campaign
