// Simulated files (file.h): reference counting, the i_mmap list, the shm-like open/close
// hooks and the page cache file faults read through.
#include "mmtorture/vma/file.h"

#include <string>

#include <fmt/format.h>

#include "mmtorture/core/failure.h"
#include "mmtorture/vma/alloc_sites.h"
#include "mmtorture/vma/mm.h"

namespace mmt::vma {

namespace {

// shm_open: one more attach of the segment.
void shm_open(Vma* vma) { ++vma->vm_file->attach; }

// shm_close: one attach fewer; a close with none left is the count broken already.
void shm_close(Vma* vma) {
  if (vma->vm_file->attach <= 0)
    raise_failure(
        FailureSubject::entry(vma->vm_start, vma->vm_end - 1, vma->vm_mm->id()), "vma.file_attach", "shm_close",
        fmt::format("vma#{} closes file {} whose attach count is {}", vma->id, vma->vm_file->id, vma->vm_file->attach));
  --vma->vm_file->attach;
}

}  // namespace

const VmOperations kGenericFileVmOps{"generic_file_vm_ops", nullptr, nullptr};
const VmOperations kShmVmOps{"shm_vm_ops", shm_open, shm_close};

void get_file(File* file) { ++file->refcount; }

void fput(File* file) {
  // The context's own reference is never put by a mapping: reaching it is an extra fput.
  if (file->refcount <= 1)
    raise_failure("vma.file", "fput", fmt::format("file {} put with only its own reference left", file->id));
  --file->refcount;
}

void vma_link_file(Vma* vma) {
  IMmapWriteLock lock(vma->vm_file, Site{"vma_link_file"});
  get_file(vma->vm_file);
  vma->i_mmap_pos = static_cast<uint32_t>(vma->vm_file->i_mmap.size());
  vma->vm_file->i_mmap.push_back(vma);
  if (vma->vm_ops && vma->vm_ops->open) vma->vm_ops->open(vma);
}

void vma_unlink_file(Vma* vma, bool call_close) {
  File* file = vma->vm_file;
  IMmapWriteLock lock(file, Site{"vma_unlink_file"});
  if (call_close && vma_has_close(vma->vm_ops)) vma->vm_ops->close(vma);
  auto& list = file->i_mmap;
  const uint32_t pos = vma->i_mmap_pos;
  if (pos >= list.size() || list[pos] != vma)
    raise_failure(FailureSubject::entry(vma->vm_start, vma->vm_end - 1, vma->vm_mm->id()), "vma.file",
                  "vma_unlink_file",
                  fmt::format("vma#{} is not at position {} of file {}'s i_mmap ({} entries)", vma->id, pos, file->id,
                              list.size()));
  Vma* moved = list.back();
  list[pos] = moved;
  moved->i_mmap_pos = pos;
  list.pop_back();
  fput(file);
}

mem::Page* filemap_get_page(VmContext& context, File* file, unsigned long index) {
  mem::Memory& memory = context.memory();
  if (auto it = file->cache.find(index); it != file->cache.end()) {
    memory.get_page(it->second);
    return it->second;
  }
  mem::Page* page = memory.alloc_pages(gfp::kKernel, 0, kSiteFilemapFault);
  if (!page) return nullptr;
  // The allocation may have slept: another fault may have filled the slot meanwhile
  // (filemap_add_folio's -EEXIST), and then its page is the one.
  if (auto it = file->cache.find(index); it != file->cache.end()) {
    memory.put_page(page);
    memory.get_page(it->second);
    return it->second;
  }
  page->mapping = file;
  page->index = index;
  file->cache.emplace(index, page);  // the cache's reference: the allocation's
  memory.lru_add(page);              // filemap_add_folio: reclaim may take it from here
  memory.get_page(page);             // the caller's
  return page;
}

bool filemap_remove_page(VmContext& context, mem::Page* page) {
  auto* file = static_cast<File*>(page->mapping);
  // The freeze: the cache's reference and the caller's, no mapping, nothing to write.
  if (!file || page->mapcount != 0 || page->refcount != 2 || page->test(mem::PG_dirty) || page->test(mem::PG_writeback))
    return false;
  auto it = file->cache.find(page->index);
  if (it == file->cache.end() || it->second != page)
    raise_failure(
        "vma.file_cache", "filemap_remove_page",
        fmt::format("pfn {} names file {} index {:#x}, where the cache holds {}", page->pfn, file->id, page->index,
                    it == file->cache.end() ? std::string("nothing") : fmt::format("pfn {}", it->second->pfn)));
  file->cache.erase(it);
  page->mapping = nullptr;
  ++file->dropped;
  context.memory().put_page(page);  // the cache's reference; the caller's remains
  return true;
}

std::optional<Failure> validate_file_caches(VmContext& context) {
  mem::Memory& memory = context.memory();
  auto fail = [&](const mem::Page& page, const std::string& what) {
    return Failure{"vma.file_cache",
                   "validate_file_caches",
                   fmt::format("pfn {}: {}", page.pfn, what),
                   memory.describe_page(page),
                   0,
                   0};
  };
  for (size_t i = 0; i < context.file_count(); ++i) {
    const File* file = context.file(i);
    for (const auto& [index, page] : file->cache) {
      if (page->mapping != file || page->index != index)
        return fail(*page, fmt::format("in file {}'s cache at {:#x} but names index {:#x} of {}", file->id, index,
                                       page->index, page->mapping == file ? "it" : "another file"));
      if (!page->test(mem::PG_allocated) || page->test(mem::PG_anon))
        return fail(*page, fmt::format("in file {}'s cache at {:#x} but {}", file->id, index,
                                       page->test(mem::PG_anon) ? "anonymous" : "not allocated"));
      const bool isolated = page->test(mem::PG_isolated);
      if (page->test(mem::PG_lru) == isolated)
        return fail(*page, fmt::format("file {}'s cache page {:#x} is {} the LRU", file->id, index,
                                       isolated ? "isolated and on" : "neither isolated nor on"));
      if (page->refcount < 1 + page->mapcount + (isolated ? 1 : 0))
        return fail(*page,
                    fmt::format("file {}'s cache page {:#x} has refcount {} below its cache reference + {} "
                                "mappings{}",
                                file->id, index, page->refcount, page->mapcount, isolated ? " + reclaim's" : ""));
    }
  }
  // The other way: a frame that names a file is in that file's cache.
  for (uint64_t pfn = 0; pfn < memory.nr_pages(); ++pfn) {
    const mem::Page& page = *memory.pfn_to_page(pfn);
    if (!page.mapping || !page.test(mem::PG_allocated)) continue;
    const auto* file = static_cast<const File*>(page.mapping);
    auto it = file->cache.find(page.index);
    if (it == file->cache.end() || it->second != &page)
      return fail(page, fmt::format("names file {} index {:#x}, which its cache does not hold", file->id, page.index));
  }
  return std::nullopt;
}

}  // namespace mmt::vma
