// The disk implementation of registry_store (blob_files + metadata_db), with
// a fault-injection seam so tests can stop a commit between any two of its
// durable steps and check what a reopened store shows.
#pragma once

#include "store/file_io.hpp"
#include "store/registry_store.hpp"

#include <functional>

namespace stowage::store {

/// Called with the name of each durable step a commit has just completed:
///   "commit:verified"   upload hashed and matched, nothing moved yet
///   "commit:synced"     upload file fsync'd
///   "commit:renamed"    file renamed into blobs/, directory not yet fsync'd
///   "commit:dir_synced" directory fsync'd, metadata row not yet written
///   "manifest:temp_written", "manifest:renamed", "manifest:dir_synced"
/// A hook that throws abandons the operation at that point, like a crash.
using fault_hook = std::function<void(std::string_view step)>;

/// How a store of `kind` writes the bytes of an upload meant for `use`
/// (store/file_io.hpp): `kept` around the page cache, with an fdatasync in
/// the background every few MiB, in a cache too, which never fsyncs, so that
/// the flush of the device's write cache is not left to the next process on
/// the device that syncs; `read_soon` through the page cache, in a cache
/// without asking the kernel to start the writeback early.
fileio::buffered_appender::mode upload_write_mode(store_kind kind, upload_use use);

/// Upload writers refer to their store: destroy them before it.
std::unique_ptr<registry_store> open_disk_store(const std::filesystem::path& dir,
                                                std::chrono::seconds upload_ttl,
                                                fault_hook hook = {},
                                                store_kind kind = store_kind::durable);

} // namespace stowage::store
