// replay --html: the timeline (timeline.h) as one self-contained page. The picture is
// drawn here as inline SVG, so it shows even with scripts off; the small script only
// adds the hover detail and the choices of a clicked operation. A Content-Security-
// Policy forbids every request: the page cannot load anything, and a test checks it
// loads nothing. A script error is written into the page (#script-error), where a
// headless browser's DOM dump shows it.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "mmtorture/campaign/repro.h"
#include "mmtorture/campaign/timeline.h"

namespace mmt::campaign {

namespace {

using sched::EventKind;

std::string escape(std::string_view text) { return html_escape(text); }

}  // namespace

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {

constexpr int kLabelWidth = 190;
constexpr int kOpRow = 24;
constexpr int kLockRow = 9;
constexpr int kTrackGap = 10;
constexpr int kTop = 24;  // the step ruler

constexpr const char* kStyle = R"(
body{font:13px/1.4 system-ui,sans-serif;margin:16px;color:#222;background:#fff}
h1{font-size:17px;margin:0 0 8px}
#failure{background:#fde8e8;border:1px solid #d33;padding:8px;white-space:pre-wrap;font:12px/1.35 monospace;margin:0 0 10px}
#script-error,#blocked-request{background:#d33;color:#fff;padding:6px;font-weight:bold}
.scroll{overflow-x:auto;border:1px solid #ccc}
svg text{font:11px sans-serif}
.lane-bg{fill:#f7f7f7}
.lane-bg.failing-thread{fill:#fdecec}
.lane-label{fill:#222}
.lane-label.failing-thread{fill:#b00;font-weight:bold}
rect.op{fill:#8fb8e8;stroke:#4b7fb9;stroke-width:.5;cursor:pointer}
rect.op.selected{stroke:#000;stroke-width:2}
rect.op.failing{fill:#f08080;stroke:#b00;stroke-width:2}
rect.wait{fill:#ddd;stroke:#999;stroke-width:.5}
rect.lock{fill:#c9a0dc;stroke:#8a5aa8;stroke-width:.5}
rect.lock.held{fill:#e0a030;stroke:#a06000}
line.ev{stroke:#555;stroke-width:1}
line.ev-preempt{stroke:#2a8a2a}
line.ev-alloc_fail{stroke:#e07000;stroke-width:2}
line.ev-oom_kill,line.ev-reclaim{stroke:#a000a0;stroke-width:2}
line.ev-fail{stroke:#d00;stroke-width:3}
line.fail-marker{stroke:#d00;stroke-width:1.5;stroke-dasharray:4 3}
line.flow{stroke:#2a6fd6;stroke-width:1;marker-end:url(#arrow)}
#detail{min-height:2.8em;background:#f3f3f3;padding:6px;font:12px monospace;white-space:pre-wrap;margin:8px 0}
table{border-collapse:collapse;font:12px monospace;margin:4px 0 12px}
td,th{border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top}
td:nth-child(2){white-space:nowrap}
text.slice-label{pointer-events:none;fill:#123}
.legend span{display:inline-block;margin-right:14px}
.legend i{display:inline-block;width:14px;height:10px;margin-right:4px;vertical-align:middle}
.cols{display:flex;gap:24px;flex-wrap:wrap}
.cols>div{flex:1;min-width:380px}
)";

// In <head>, before anything else runs or loads: a script error or a request the policy
// blocked leaves a marker in the page (#script-error, #blocked-request).
constexpr const char* kGuardScript = R"(
(function () {
  var pending = [];
  function mark(id, text) {
    var marker = document.createElement('div');
    marker.id = id;
    marker.textContent = text;
    if (document.body) document.body.insertBefore(marker, document.body.firstChild);
    else pending.push(marker);
  }
  window.onerror = function (message) { mark('script-error', 'script error: ' + message); };
  document.addEventListener('securitypolicyviolation', function (event) {
    mark('blocked-request', 'blocked request: ' + event.blockedURI + ' (' + event.violatedDirective + ')');
  });
  document.addEventListener('DOMContentLoaded', function () {
    pending.forEach(function (marker) { document.body.insertBefore(marker, document.body.firstChild); });
  });
})();
)";

constexpr const char* kScript = R"(
(function () {
  var choices = JSON.parse(document.getElementById('op-choices').textContent);
  var detail = document.getElementById('detail');
  var panel = document.getElementById('choices');
  var items = document.querySelectorAll('[data-detail]');
  for (var i = 0; i < items.length; i++) {
    items[i].addEventListener('mouseenter', function (event) {
      detail.textContent = event.currentTarget.getAttribute('data-detail');
    });
  }
  function show(op) {
    var selected = document.querySelectorAll('rect.op.selected');
    for (var k = 0; k < selected.length; k++) selected[k].classList.remove('selected');
    var rect = document.querySelector('rect.op[data-slice="' + op + '"]');
    if (rect) rect.classList.add('selected');
    var entry = choices[op];
    panel.textContent = '';
    var title = document.createElement('p');
    title.textContent = entry.name + ': ' + entry.choices.length + ' choices drawn while it ran';
    panel.appendChild(title);
    var table = document.createElement('table');
    var head = table.insertRow();
    ['#', 'label', 'bound', 'value'].forEach(function (h) {
      var th = document.createElement('th');
      th.textContent = h;
      head.appendChild(th);
    });
    entry.choices.forEach(function (c) {
      var row = table.insertRow();
      c.forEach(function (v) { row.insertCell().textContent = v; });
    });
    panel.appendChild(table);
  }
  var ops = document.querySelectorAll('rect.op');
  for (var j = 0; j < ops.length; j++) {
    ops[j].addEventListener('click', function (event) { show(event.currentTarget.getAttribute('data-slice')); });
  }
  var failing = document.querySelector('rect.op.failing');
  if (failing) show(failing.getAttribute('data-slice'));
  document.body.setAttribute('data-script', 'ran');
})();
)";

class HtmlWriter {
 public:
  HtmlWriter(const Timeline& t, const TimelineSource& source) : t_(t), source_(source) {
    const size_t steps = std::max<size_t>(t.events.size(), 1);
    step_px_ = std::clamp(1400.0 / static_cast<double>(steps), 2.0, 14.0);
    int y = kTop;
    for (const TimelineTrack& track : t.tracks) {
      track_y_[track.thread] = y;
      y += kOpRow + static_cast<int>(track.lock_lanes) * kLockRow + kTrackGap;
    }
    height_ = y;
    width_ = kLabelWidth + static_cast<int>(static_cast<double>(steps) * step_px_) + 20;
    if (t.fail_event) failing_thread_ = t.events[*t.fail_event].thread;
    compute_depths();
  }

  std::string write() {
    std::string out = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n";
    out += "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'unsafe-inline'; "
           "style-src 'unsafe-inline'\">\n";
    out += fmt::format("<title>mmtorture timeline: {}</title>\n<script>{}</script>\n<style>{}</style></head>\n<body>\n",
                       escape(source_.repro), kGuardScript, kStyle);
    out += fmt::format("<h1>mmtorture replay {} &mdash; seed {}, config {}, {} events, {} choices</h1>\n",
                       escape(source_.repro), source_.seed, escape(source_.config_hash), t_.events.size(),
                       t_.choices.size());
    out += failure_block();
    out += "<div class=\"legend\"><span><i style=\"background:#8fb8e8\"></i>operation</span>"
           "<span><i style=\"background:#f08080\"></i>failing operation</span>"
           "<span><i style=\"background:#ddd\"></i>waiting</span>"
           "<span><i style=\"background:#c9a0dc\"></i>lock held</span>"
           "<span><i style=\"background:#e0a030\"></i>lock held at the failure</span>"
           "<span><i style=\"background:#2a8a2a\"></i>preempted</span>"
           "<span><i style=\"background:#e07000\"></i>allocation failed</span>"
           "<span><i style=\"background:#2a6fd6\"></i>wake-up</span>"
           "<span><i style=\"background:#d00\"></i>FAIL</span></div>\n";
    out += "<div class=\"scroll\">" + svg() + "</div>\n";
    out += "<div id=\"detail\">Hover over an operation, a lock hold or an event for its detail; click an operation "
           "for the choices it drew.</div>\n";
    out += "<div class=\"cols\"><div><h2>Choices of the selected operation</h2><div id=\"choices\"></div></div>\n";
    out += "<div>" + held_locks() + last_events() + "</div></div>\n";
    out += "<script type=\"application/json\" id=\"op-choices\">" + choices_json() + "</script>\n";
    out += fmt::format("<script>{}</script>\n</body></html>\n", kScript);
    return out;
  }

 private:
  double x_of(size_t index) const { return kLabelWidth + static_cast<double>(index) * step_px_; }

  std::string thread_label(uint32_t thread) const {
    for (const TimelineTrack& track : t_.tracks)
      if (track.thread == thread)
        return thread == Timeline::kRcuTrack || thread == 0 ? track.name : fmt::format("T{} {}", thread, track.name);
    return "?";
  }

  std::string event_detail(size_t i) const {
    const auto& history = t_.events[i];
    return fmt::format("#{} step {}, {} ms, {}: {}", history.event.seq, history.event.seq, history.event.virtual_ms,
                       thread_label(history.thread), history.event.text);
  }

  std::string failure_block() const {
    if (!t_.failure) return "<div id=\"failure\">The replay ran clean: no failure.</div>\n";
    const Failure& f = *t_.failure;
    std::string text = f.headline() + "\n";
    if (t_.fail_event) text += fmt::format("in thread {}", thread_label(t_.events[*t_.fail_event].thread));
    if (t_.failing_slice) text += fmt::format(", during its operation '{}'", t_.slices[*t_.failing_slice].name);
    if (!t_.fail_event)
      text += "; found after the threads' last event (a check after the run), marked at the right end";
    text += fmt::format("; op {}, virtual {} ms", f.op_index, f.virtual_ms);
    return "<div id=\"failure\">" + escape(text) + "</div>\n";
  }

  std::string svg() const {
    std::string out = fmt::format(
        "<svg id=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\">\n"
        "<defs><marker id=\"arrow\" viewBox=\"0 0 6 6\" refX=\"6\" refY=\"3\" markerWidth=\"6\" markerHeight=\"6\" "
        "orient=\"auto\"><path d=\"M0,0 L6,3 L0,6 z\" fill=\"#2a6fd6\"/></marker></defs>\n",
        width_, height_);
    out += ruler();
    for (const TimelineTrack& track : t_.tracks) out += lane(track);
    for (size_t s = 0; s < t_.slices.size(); ++s) out += slice(s);
    for (size_t i = 0; i < t_.events.size(); ++i) out += tick(i);
    for (const TimelineFlow& flow : t_.flows) out += arrow(flow);
    if (t_.fail_event || t_.failure)
      out += fmt::format("<line class=\"fail-marker\" x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{0:.1f}\" y2=\"{2}\"/>\n",
                         t_.fail_event ? x_of(*t_.fail_event) + step_px_ / 2 : x_of(t_.events.size()) + 2, kTop - 6,
                         height_);
    return out + "</svg>";
  }

  std::string ruler() const {
    std::string out;
    const size_t every = std::max<size_t>(1, static_cast<size_t>(80 / step_px_));
    for (size_t i = 0; i < t_.events.size(); i += every)
      out += fmt::format("<text x=\"{:.1f}\" y=\"12\" fill=\"#888\">{}</text>", x_of(i), t_.events[i].event.seq);
    return out + "<text x=\"4\" y=\"12\" fill=\"#888\">step (event #)</text>\n";
  }

  std::string lane(const TimelineTrack& track) const {
    const int y = track_y_.at(track.thread);
    const int h = kOpRow + static_cast<int>(track.lock_lanes) * kLockRow;
    const bool failing = failing_thread_ && *failing_thread_ == track.thread;
    const char* cls = failing ? " failing-thread" : "";
    return fmt::format(
        "<g class=\"lane\" data-thread=\"{}\" data-name=\"{}\"><rect class=\"lane-bg{}\" x=\"0\" y=\"{}\" width=\"{}\" "
        "height=\"{}\"/><text class=\"lane-label{}\" x=\"6\" y=\"{}\">{}{}</text></g>\n",
        track.thread, escape(track.name), cls, y, width_, h, cls, y + 16, escape(thread_label(track.thread)),
        track.daemon ? " (daemon)" : "");
  }

  // How many Op and Wait slices of its thread contain each one (they nest: scopes).
  void compute_depths() {
    depth_.assign(t_.slices.size(), 0);
    std::map<uint32_t, std::vector<size_t>> open;  // thread -> ends of the enclosing slices
    for (size_t s = 0; s < t_.slices.size(); ++s) {
      const TimelineSlice& slice = t_.slices[s];
      if (slice.kind == TimelineSlice::Kind::Lock) continue;
      auto& ends = open[slice.thread];
      while (!ends.empty() && ends.back() < slice.begin) ends.pop_back();
      depth_[s] = static_cast<int>(ends.size());
      ends.push_back(slice.end);
    }
  }

  std::string slice(size_t s) const {
    const TimelineSlice& slice = t_.slices[s];
    const int track_y = track_y_.at(slice.thread);
    const double x = x_of(slice.begin);
    const double w = std::max(step_px_ * static_cast<double>(slice.end - slice.begin) + step_px_ * 0.8, 2.0);
    std::string detail =
        fmt::format("{} from #{} to #{}{}", slice.name, t_.events[slice.begin].event.seq,
                    t_.events[slice.end].event.seq, slice.unfinished ? " (unfinished at the failure)" : "");
    if (slice.kind == TimelineSlice::Kind::Lock) {
      const bool held = slice.unfinished;
      detail += "\n" + slice.mode;
      return fmt::format("<rect class=\"lock{}\" data-slice=\"{}\" x=\"{:.1f}\" y=\"{}\" width=\"{:.1f}\" height=\"{}\" "
                         "data-detail=\"{}\"><title>{}</title></rect>\n",
                         held ? " held" : "", s, x, track_y + kOpRow + static_cast<int>(slice.lane) * kLockRow, w,
                         kLockRow - 2, escape(detail), escape(detail));
    }
    const int depth = std::min(depth_[s], 3);
    if (!slice.result.empty()) detail += "\n" + slice.result;
    const bool failing = t_.failing_slice && *t_.failing_slice == s;
    const char* cls = slice.kind == TimelineSlice::Kind::Wait ? "wait" : failing ? "op failing" : "op";
    std::string out = fmt::format(
        "<rect class=\"{}\" data-slice=\"{}\" data-thread=\"{}\" x=\"{:.1f}\" y=\"{}\" width=\"{:.1f}\" "
        "height=\"{}\" data-detail=\"{}\"><title>{}</title></rect>\n",
        cls, s, slice.thread, x, track_y + 3 + depth * 4, w, kOpRow - 6 - depth * 4, escape(detail), escape(detail));
    // The operation's name where it fits (about 6 px a character).
    const std::string label = slice.kind == TimelineSlice::Kind::Wait ? "wait" : slice.name;
    if (w > 6.0 * static_cast<double>(label.size()) + 8)
      out += fmt::format("<text class=\"slice-label\" x=\"{:.1f}\" y=\"{}\">{}</text>\n", x + 4,
                         track_y + kOpRow - 8, escape(label));
    return out;
  }

  std::string tick(size_t i) const {
    const auto& history = t_.events[i];
    const uint32_t track = t_.track_of(history);
    auto it = track_y_.find(track);
    if (it == track_y_.end()) return "";
    const double x = x_of(i) + step_px_ / 2;
    const std::string detail = event_detail(i);
    return fmt::format("<line class=\"ev ev-{}\" data-seq=\"{}\" x1=\"{:.1f}\" y1=\"{}\" x2=\"{:.1f}\" y2=\"{}\" "
                       "data-detail=\"{}\"><title>{}</title></line>\n",
                       sched::event_kind_name(history.event.kind), history.event.seq, x, it->second + kOpRow - 3, x,
                       it->second + kOpRow + 2, escape(detail), escape(detail));
  }

  std::string arrow(const TimelineFlow& flow) const {
    const int from_y = track_y_.at(t_.events[flow.from].thread) + kOpRow / 2;
    const int to_y = track_y_.at(t_.events[flow.to].thread) + kOpRow / 2;
    const std::string detail = fmt::format("wake-up: {} -> {} ({})", t_.events[flow.from].event.text,
                                           thread_label(t_.events[flow.to].thread), flow.name);
    return fmt::format("<line class=\"flow\" x1=\"{:.1f}\" y1=\"{}\" x2=\"{:.1f}\" y2=\"{}\" data-detail=\"{}\">"
                       "<title>{}</title></line>\n",
                       x_of(flow.from) + step_px_ / 2, from_y, x_of(flow.to) + step_px_ / 2, to_y, escape(detail),
                       escape(detail));
  }

  std::string held_locks() const {
    std::string out = "<h2>Locks held at the failure</h2>\n<ul id=\"held-locks\">\n";
    if (t_.held_at_failure.empty()) out += "<li>none</li>\n";
    for (size_t s : t_.held_at_failure)
      out += fmt::format("<li>{} by {}: {}</li>\n", escape(t_.slices[s].name),
                         escape(thread_label(t_.slices[s].thread)), escape(t_.slices[s].mode));
    return out + "</ul>\n";
  }

  std::string last_events() const {
    constexpr size_t kLast = 8;
    std::string out = "<h2>Last events of each thread</h2>\n";
    for (const TimelineTrack& track : t_.tracks) {
      std::vector<size_t> mine;
      for (size_t i = 0; i < t_.events.size(); ++i)
        if (t_.track_of(t_.events[i]) == track.thread) mine.push_back(i);
      out += fmt::format("<h3>{} ({} events)</h3><table class=\"last-events\">\n", escape(thread_label(track.thread)),
                         mine.size());
      for (size_t k = mine.size() > kLast ? mine.size() - kLast : 0; k < mine.size(); ++k) {
        const auto& event = t_.events[mine[k]].event;
        out += fmt::format("<tr><td>#{}</td><td>{} ms</td><td>{}</td></tr>\n", event.seq, event.virtual_ms,
                           escape(event.text));
      }
      out += "</table>\n";
    }
    return out;
  }

  // {slice index: {name, choices: [[index, label, bound, value], ...]}} for the operations.
  std::string choices_json() const {
    nlohmann::json ops = nlohmann::json::object();
    for (size_t s = 0; s < t_.slices.size(); ++s) {
      const TimelineSlice& slice = t_.slices[s];
      if (slice.kind != TimelineSlice::Kind::Op) continue;
      nlohmann::json list = nlohmann::json::array();
      for (const auto& [first, last] : t_.choices_of(slice))
        for (uint64_t c = first; c < last && c < t_.choices.size(); ++c) {
          const Choice& choice = t_.choices[c];
          list.push_back({c, fmt::format("{}@{}", choice_kind_name(choice.kind), choice.site.name), choice.bound,
                          choice.value});
        }
      std::string name = slice.result.empty() ? slice.name : slice.result;
      ops[std::to_string(s)] = {{"name", name}, {"choices", list}};
    }
    std::string text = ops.dump();
    // Inside <script>, "</" could end the element early.
    for (size_t at = text.find("</"); at != std::string::npos; at = text.find("</", at + 3))
      text.replace(at, 2, "<\\/");
    return text;
  }

  const Timeline& t_;
  const TimelineSource& source_;
  double step_px_ = 4;
  int width_ = 0;
  int height_ = 0;
  std::map<uint32_t, int> track_y_;
  std::optional<uint32_t> failing_thread_;
  std::vector<int> depth_;
};

}  // namespace

std::string timeline_html(const Timeline& timeline, const TimelineSource& source) {
  return HtmlWriter(timeline, source).write();
}

}  // namespace mmt::campaign
