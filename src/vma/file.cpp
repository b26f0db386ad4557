// Simulated files (file.h): reference counting, the i_mmap list, the shm-like open/close
// hooks and the page cache file faults read through.
#include "mmtorture/vma/file.h"

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
  get_file(vma->vm_file);
  vma->i_mmap_pos = static_cast<uint32_t>(vma->vm_file->i_mmap.size());
  vma->vm_file->i_mmap.push_back(vma);
  if (vma->vm_ops && vma->vm_ops->open) vma->vm_ops->open(vma);
}

void vma_unlink_file(Vma* vma, bool call_close) {
  File* file = vma->vm_file;
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
  memory.get_page(page);             // the caller's
  return page;
}

}  // namespace mmt::vma
