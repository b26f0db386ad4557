// mt_dump: the tree as indented text (what a failed check prints) and as Graphviz dot.
// Nodes are numbered in depth-first order instead of printing host addresses, so two
// runs of the same seed print byte-identical dumps.
#include <cstdio>
#include <functional>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "internal.h"
#include "mmtorture/maple/validate.h"

namespace mmt::maple {

namespace {


std::string entry_text(const void* entry, mt_dump_format format) {
  if (!entry) return "NULL";
  if (xa_is_zero(entry)) return "zero";
  if (xa_is_value(entry))
    return format == mt_dump_hex ? fmt::format("value {:#x}", xa_to_value(entry))
                                 : fmt::format("value {}", xa_to_value(entry));
  if (xa_is_internal(entry)) return fmt::format("internal {}", xa_to_internal(entry));
  return "pointer";
}

std::string range_text(unsigned long min, unsigned long max, mt_dump_format format) {
  return format == mt_dump_hex ? fmt::format("{:#x}-{:#x}", min, max) : fmt::format("{}-{}", min, max);
}

struct Dumper {
  mt_dump_format format;
  std::string out;
  unsigned next_id = 0;
  const maple_tree* mt = nullptr;
  unsigned height = 0;  // from the tree's flags

  // Failures dump corrupted trees: a child whose encoded type cannot be right at its
  // depth would be read with the wrong layout, so it is named but not followed.
  bool followable(const maple_enode* child, int child_depth) const {
    const maple_type type = mte_node_type(child);
    if (static_cast<unsigned>(child_depth) + 1 == height) return type == maple_leaf_64;
    return type == mt_internal_type(mt);
  }

  void node(maple_enode* enode, unsigned long min, unsigned long max, int depth, unsigned parent_id, unsigned slot) {
    maple_node* node = mte_to_node(enode);
    const maple_type type = mte_node_type(enode);
    const unsigned id = next_id++;
    const unsigned end = ma_data_end(node, type, max);
    const std::string indent(static_cast<size_t>(depth) * 2, ' ');
    out += fmt::format(
        "{}{}: node#{} depth {} type {} parent {} slot {}{}{}\n", indent, range_text(min, max, format), id, depth,
        maple_type_name(type), depth ? fmt::format("node#{}", parent_id) : "tree", slot,
        ma_dead_node(node) ? " DEAD" : "",
        type == maple_arange_64 ? fmt::format(" | end {} gap {} |", node->ma64.meta.end, node->ma64.meta.gap) : "");
    unsigned long slot_min = min;
    const unsigned long* gaps = ma_gaps(node, type);
    for (unsigned i = 0; i <= end && i < mt_slot_count(type); ++i) {
      const unsigned long slot_max = ma_slot_max(node, type, i, max);
      void* entry = ma_slots(node, type)[i];
      if (slot_max > max || slot_max < slot_min) {
        out += fmt::format("{}  slot {}: pivot {} out of range {}\n", indent, i,
                           range_text(slot_max, slot_max, format), range_text(min, max, format));
        return;
      }
      if (ma_is_leaf(type)) {
        out += fmt::format("{}  {}: {}\n", indent, range_text(slot_min, slot_max, format), entry_text(entry, format));
      } else {
        if (gaps) out += fmt::format("{}  slot {} gap {:#x}\n", indent, i, gaps[i]);
        auto* child = static_cast<maple_enode*>(entry);
        if (child && followable(child, depth + 1))
          this->node(child, slot_min, slot_max, depth + 1, id, i);
        else if (child)
          out += fmt::format("{}  slot {}: node of type {} at depth {} (bad type, not followed)\n", indent, i,
                             maple_type_name(mte_node_type(child)), depth + 1);
      }
      slot_min = slot_max + 1;
    }
  }
};

// Graphviz record labels treat these as structure; entry labels may contain them.
std::string dot_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '"' || c == '{' || c == '}' || c == '|' || c == '<' || c == '>' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

// One tree node as the Graphviz dumps draw it: read in a first pass over the whole tree,
// so a large tree can be drawn as the paths to the failure's subject with everything
// else collapsed (and the nodes keep their depth-first names either way).
struct DotNode {
  unsigned long min = 0, max = 0;
  unsigned depth = 0;
  std::string label;                                   // the record's fields, escaped
  std::vector<std::pair<unsigned, unsigned>> children;  // (slot, node id), in slot order
  unsigned subtree_nodes = 1;                          // this node and every node below it
  bool subject = false;                                // the failure names it (or a slot of it)
  bool on_path = false;                                // it is, or is above, a subject node
};

struct DotDumper {
  const maple_tree* mt = nullptr;
  std::string prefix;  // node names are <prefix>n<id>
  const std::function<std::string(const void*)>* entry_label = nullptr;
  FailureSubject subject;
  std::string indent = "  ";
  std::string out;
  std::vector<DotNode> nodes;  // by id, in depth-first order
  unsigned height = 0;

  std::string entry(const void* entry) const {
    if (entry_label && *entry_label && entry && !xa_is_internal(entry) && !xa_is_value(entry))
      return dot_escape((*entry_label)(entry));
    return dot_escape(entry_text(entry, mt_dump_hex));
  }

  // As the text dump: a corrupted tree is drawn as far as it can be read, never
  // followed through a child whose type cannot be right at its depth.
  bool followable(const maple_enode* child, unsigned child_depth) const {
    const maple_type type = mte_node_type(child);
    if (child_depth + 1 == height) return type == maple_leaf_64;
    return child_depth + 1 < height && type == mt_internal_type(mt);
  }

  // An entry subject names the leaf slots its range overlaps.
  bool names_slot(unsigned long slot_min, unsigned long slot_max) const {
    return subject.kind == FailureSubject::Kind::Entry && slot_min <= subject.last && subject.first <= slot_max;
  }

  // Reads a node and everything below it into `nodes`; returns its id.
  unsigned read(maple_enode* enode, unsigned long min, unsigned long max, unsigned depth) {
    maple_node* node = mte_to_node(enode);
    const maple_type type = mte_node_type(enode);
    const unsigned id = static_cast<unsigned>(nodes.size());
    nodes.emplace_back();
    std::string label = fmt::format("{} {:#x}-{:#x}{}", maple_type_name(type), min, max, ma_dead_node(node) ? " DEAD" : "");
    bool subject_here = subject.kind == FailureSubject::Kind::Node && subject.first == min && subject.last == max &&
                        subject.depth == depth;
    const unsigned end = ma_data_end(node, type, max);
    unsigned long slot_min = min;
    std::vector<std::pair<unsigned, unsigned>> children;
    unsigned below = 0;
    for (unsigned i = 0; i <= end && i < mt_slot_count(type); ++i) {
      const unsigned long slot_max = ma_slot_max(node, type, i, max);
      void* slot = ma_slots(node, type)[i];
      if (slot_max > max || slot_max < slot_min) {
        label += fmt::format("|slot {}: pivot {:#x} out of range", i, slot_max);
        break;
      }
      if (ma_is_leaf(type)) {
        const bool named = names_slot(slot_min, slot_max);
        subject_here |= named;
        label += fmt::format("|{}{:#x}-{:#x}: {}", named ? "\\>\\> " : "", slot_min, slot_max, entry(slot));
      } else {
        label += fmt::format("|<s{}> {:#x}-{:#x}", i, slot_min, slot_max);
        auto* child = static_cast<maple_enode*>(slot);
        if (child && followable(child, depth + 1)) {
          const unsigned child_id = read(child, slot_min, slot_max, depth + 1);
          children.emplace_back(i, child_id);
          below += nodes[child_id].subtree_nodes;
        } else if (child) {
          label += fmt::format(" (bad child type {}, not followed)", maple_type_name(mte_node_type(child)));
        }
      }
      slot_min = slot_max + 1;
    }
    DotNode& drawn = nodes[id];  // `nodes` may have grown: take the reference now
    drawn.min = min;
    drawn.max = max;
    drawn.depth = depth;
    drawn.label = std::move(label);
    drawn.subtree_nodes = 1 + below;
    drawn.subject = subject_here;
    drawn.on_path = subject_here;
    for (auto [slot, child] : children) drawn.on_path |= nodes[child].on_path;
    drawn.children = std::move(children);
    return id;
  }

  void emit_node(unsigned id) {
    const DotNode& node = nodes[id];
    const char* style = node.subject ? ",color=red,penwidth=3,style=filled,fillcolor=\"#ffe4e1\""
                        : node.on_path ? ",color=red"
                                       : "";
    out += fmt::format("{}{}n{} [shape=record{},label=\"{{{}}}\"];\n", indent, prefix, id, style, node.label);
  }

  void emit_edge(unsigned parent, unsigned slot, unsigned child) {
    out += fmt::format("{}{}n{}:s{} -> {}n{}{};\n", indent, prefix, parent, slot, prefix, child,
                       nodes[child].on_path ? " [color=red,penwidth=2]" : "");
  }

  // Every node and edge.
  void emit_all() {
    for (unsigned id = 0; id < nodes.size(); ++id) {
      emit_node(id);
      for (auto [slot, child] : nodes[id].children) emit_edge(id, slot, child);
    }
  }

  // The nodes on a path to a subject; their other children, a box per run of adjacent
  // slots ("slots 3-9: 7 subtrees, 61 nodes").
  void emit_paths() {
    unsigned drawn = 0, collapsed = 0;
    for (unsigned id = 0; id < nodes.size(); ++id) {
      const DotNode& node = nodes[id];
      if (!node.on_path) continue;
      emit_node(id);
      ++drawn;
      const auto& children = node.children;
      for (size_t i = 0; i < children.size();) {
        if (nodes[children[i].second].on_path) {
          emit_edge(id, children[i].first, children[i].second);
          ++i;
          continue;
        }
        size_t j = i;
        unsigned subtree_nodes = 0;
        while (j < children.size() && !nodes[children[j].second].on_path)
          subtree_nodes += nodes[children[j++].second].subtree_nodes;
        const unsigned first = children[i].first, last = children[j - 1].first;
        const std::string slots =
            first == last ? fmt::format("slot {}", first) : fmt::format("slots {}-{}", first, last);
        out += fmt::format(
            "{}{}n{}_c{} [shape=box,style=dashed,color=gray40,fontcolor=gray40,label=\"{}: {} collapsed ({} "
            "node{})\"];\n",
            indent, prefix, id, first, slots, j - i == 1 ? "1 subtree" : fmt::format("{} subtrees", j - i),
            subtree_nodes, subtree_nodes == 1 ? "" : "s");
        out += fmt::format("{}{}n{}:s{} -> {}n{}_c{} [style=dashed,color=gray40];\n", indent, prefix, id, first, prefix,
                           id, first);
        collapsed += subtree_nodes;
        i = j;
      }
    }
    out += fmt::format("{}// drawn: the {} node(s) on the path from the root to the failure's subject; {} other "
                       "node(s) collapsed\n",
                       indent, drawn, collapsed);
  }

  // Reads the tree, then draws it whole, or (more than `collapse_above` nodes and the
  // subject found) as the paths to the subject.
  void tree(size_t collapse_above) {
    height = mt_height_of(mt);
    if (!xa_is_node(mt->ma_root)) {
      out += fmt::format("{}{}root [label=\"{}\"];\n", indent, prefix, entry(mt->ma_root));
      return;
    }
    read(mt_root_enode(mt), 0, ULONG_MAX, 0);
    if (collapse_above && nodes.size() > collapse_above && nodes[0].on_path) emit_paths();
    else emit_all();
  }

  bool subject_found() const { return !nodes.empty() && nodes[0].on_path; }
};

// Graphviz quoted strings outside records: only the quote and the backslash are special.
std::string dot_quote(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

std::string mt_dump_string(const maple_tree* mt, mt_dump_format format) {
  Dumper d{format, {}};
  d.mt = mt;
  d.height = mt_height_of(mt);
  const void* root = mt->ma_root;
  d.out = fmt::format("maple_tree flags {:#x}, height {} root {}\n", mt->ma_flags, mt_height_of(mt),
                      xa_is_node(root) ? "node#0" : entry_text(root, format));
  if (xa_is_node(root)) d.node(mt_root_enode(mt), 0, ULONG_MAX, 0, 0, 0);
  return d.out;
}

std::string mt_dump_dot(const maple_tree* mt) {
  DotDumper d;
  d.mt = mt;
  d.out = "digraph maple_tree {\n  node [fontname=monospace];\n";
  d.tree(0);
  d.out += "}\n";
  return d.out;
}

std::string mt_dump_dot_subgraph(const maple_tree* mt, const DotTreeOptions& options) {
  DotDumper d;
  d.mt = mt;
  d.prefix = options.name + "_";
  d.entry_label = &options.entry_label;
  d.subject = options.subject;
  d.indent = "    ";
  d.tree(options.collapse_above_nodes);
  std::string label = options.label;
  if (options.failing) {
    std::string subject = d.subject.text();
    if (!subject.empty() && d.subject.kind != FailureSubject::Kind::None && !d.subject_found())
      subject += ", not found in this tree";
    label += ": named by the failure" + (subject.empty() ? "" : " (" + subject + ")");
  }
  const std::string style = options.failing ? "    color=red;\n    penwidth=2;\n    fontcolor=red;\n"
                                            : "    color=black;\n    fontcolor=black;\n";
  return fmt::format("  subgraph cluster_{} {{\n    label=\"{}\";\n{}{}  }}\n", options.name, dot_escape(label), style,
                     d.out);
}

std::string dot_failure_digraph(const std::string& comment, const Failure& failure, const std::string& clusters) {
  // The failure on top of the picture, wrapped at word boundaries into left-justified
  // lines ("\l") so a long message does not set the drawing's width.
  constexpr size_t kLineChars = 110;
  const std::string text = failure.headline();
  std::string label, line;
  size_t at = 0;
  while (at < text.size()) {
    size_t next = text.find(' ', at);
    if (next == std::string::npos) next = text.size();
    const std::string word = text.substr(at, next - at);
    if (!line.empty() && line.size() + 1 + word.size() > kLineChars) {
      label += dot_quote(line) + "\\l";
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
    at = next + 1;
  }
  if (!line.empty()) label += dot_quote(line) + "\\l";
  std::string out;
  for (size_t from = 0; from < comment.size();) {
    size_t to = comment.find('\n', from);
    if (to == std::string::npos) to = comment.size();
    out += "// " + comment.substr(from, to - from) + "\n";
    from = to + 1;
  }
  out += fmt::format(
      "digraph mmtorture_trees {{\n  label=\"{}\";\n  labelloc=t;\n  labeljust=l;\n  fontname=monospace;\n"
      "  fontcolor=red;\n  node [fontname=monospace];\n{}}}\n",
      label, clusters);
  return out;
}

}  // namespace mmt::maple

void mt_dump(const maple_tree* mt, mt_dump_format format) {
  const std::string text = mmt::maple::mt_dump_string(mt, format);
  std::fwrite(text.data(), 1, text.size(), stderr);
}
