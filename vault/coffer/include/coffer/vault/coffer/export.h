// Taking data out of a coffer into a folder on purpose: the teacher's own
// files/ tree at check-in, and (for a coffer on hold, the school's incident
// record) the records as the mount shows them. The destination must not
// exist yet; it is made private (0700) and filled; nothing is overwritten.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "coffer/vault/coffer/coffer.h"

namespace coffer::vault {

struct ExportedFile {
  std::string path;  // relative to the destination, '/'-separated
  std::uint64_t size = 0;
  bool is_dir = false;
};

// Copies files/ (directories, regular files, symbolic links as links; the
// coffer's permission bits and times) into dest. Each chunk is checked
// against its MAC as it is read: damage stops the export (Error kDamaged).
std::vector<ExportedFile> export_files(Coffer& coffer, const std::filesystem::path& dest);

// Writes roster.csv, manifest.txt and pupils/<folder>/profile.txt into dest.
std::vector<ExportedFile> export_records(Coffer& coffer, const std::filesystem::path& dest,
                                         const std::string& coffer_name);

}  // namespace coffer::vault
