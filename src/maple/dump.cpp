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
    out += fmt::format("{}{}: node#{} depth {} type {} parent {} slot {}{}{}\n", indent, range_text(min, max, format),
                       id, depth, maple_type_name(type), depth ? fmt::format("node#{}", parent_id) : "tree", slot,
                       ma_dead_node(node) ? " DEAD" : "",
                       type == maple_arange_64 ? fmt::format(" | end {} gap {} |", node->ma64.meta.end, node->ma64.meta.gap)
                                               : "");
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

struct DotDumper {
  const maple_tree* mt = nullptr;
  std::string prefix;  // node names are <prefix>n<id>
  const std::function<std::string(const void*)>* entry_label = nullptr;
  std::string indent = "  ";
  std::string out;
  unsigned next_id = 0;
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

  unsigned node(maple_enode* enode, unsigned long min, unsigned long max, unsigned depth) {
    maple_node* node = mte_to_node(enode);
    const maple_type type = mte_node_type(enode);
    const unsigned id = next_id++;
    const unsigned end = ma_data_end(node, type, max);
    std::string label = fmt::format("{} {:#x}-{:#x}{}", maple_type_name(type), min, max, ma_dead_node(node) ? " DEAD" : "");
    unsigned long slot_min = min;
    std::vector<std::pair<unsigned, unsigned>> edges;
    std::vector<std::string> stubs;
    for (unsigned i = 0; i <= end && i < mt_slot_count(type); ++i) {
      const unsigned long slot_max = ma_slot_max(node, type, i, max);
      void* slot = ma_slots(node, type)[i];
      if (slot_max > max || slot_max < slot_min) {
        label += fmt::format("|slot {}: pivot {:#x} out of range", i, slot_max);
        break;
      }
      if (ma_is_leaf(type)) {
        label += fmt::format("|{:#x}-{:#x}: {}", slot_min, slot_max, entry(slot));
      } else {
        label += fmt::format("|<s{}> {:#x}-{:#x}", i, slot_min, slot_max);
        auto* child = static_cast<maple_enode*>(slot);
        if (child && followable(child, depth + 1))
          edges.emplace_back(i, this->node(child, slot_min, slot_max, depth + 1));
        else if (child)
          label += fmt::format(" (bad child type {}, not followed)", maple_type_name(mte_node_type(child)));
      }
      slot_min = slot_max + 1;
    }
    out += fmt::format("{}{}n{} [shape=record,label=\"{{{}}}\"];\n", indent, prefix, id, label);
    for (auto [slot, child] : edges) out += fmt::format("{}{}n{}:s{} -> {}n{};\n", indent, prefix, id, slot, prefix, child);
    return id;
  }

  void tree() {
    height = mt_height_of(mt);
    if (xa_is_node(mt->ma_root)) node(mt_root_enode(mt), 0, ULONG_MAX, 0);
    else out += fmt::format("{}{}root [label=\"{}\"];\n", indent, prefix, entry(mt->ma_root));
  }
};

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
  d.tree();
  d.out += "}\n";
  return d.out;
}

std::string mt_dump_dot_subgraph(const maple_tree* mt, const DotTreeOptions& options) {
  DotDumper d;
  d.mt = mt;
  d.prefix = options.name + "_";
  d.entry_label = &options.entry_label;
  d.indent = "    ";
  d.out = fmt::format("  subgraph cluster_{} {{\n    label=\"{}\";\n", options.name, dot_escape(options.label));
  d.tree();
  d.out += "  }\n";
  return d.out;
}

}  // namespace mmt::maple

void mt_dump(const maple_tree* mt, mt_dump_format format) {
  const std::string text = mmt::maple::mt_dump_string(mt, format);
  std::fwrite(text.data(), 1, text.size(), stderr);
}
