// coffer-demo-school: writes a fictional school's MIS export (pupils.csv,
// contacts.csv in the coffer-csv format) for the demo script, tests and
// benchmarks. Exit codes: 0 written, 1 refused or I/O error, 2 usage.
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "school.h"

namespace fs = std::filesystem;
using namespace coffer::demo_school;

namespace {

bool write_file(const fs::path& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(text.data(), static_cast<std::streamsize>(text.size()));
  f.close();
  if (!f) {
    std::cerr << fmt::format("coffer-demo-school: cannot write {}: {}\n", path.string(), std::strerror(errno));
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{fmt::format("Writes a deterministic, fictional MIS export of {} in the coffer-csv format:\n"
                           "DIR/pupils.csv and DIR/contacts.csv. The same seed gives the same bytes.",
                           kSchoolName),
               "coffer-demo-school"};
  std::string out_dir;
  Options options;
  bool force = false;
  app.add_option("--out", out_dir, "directory to write into (created if missing)")->required();
  app.add_option("--pupils", options.pupils, "number of pupils (default 600: 24 groups of 25)")
      ->check(CLI::Range(std::size_t{1}, kMaxPupils));
  app.add_option("--seed", options.seed, "seed of the generator (default 1)");
  app.add_flag("--minimal", options.minimal,
               "leave out the Ethnicity, FSMeligible and SENProvision columns the importer must drop");
  app.add_flag("--force", force, "overwrite existing pupils.csv and contacts.csv");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return 0;
  } catch (const CLI::ParseError& e) {
    std::cerr << "coffer-demo-school: " << e.what() << "\nRun 'coffer-demo-school --help' for usage.\n";
    return 2;
  }

  const fs::path dir(out_dir);
  const fs::path pupils = dir / "pupils.csv", contacts = dir / "contacts.csv";
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    std::cerr << fmt::format("coffer-demo-school: cannot create {}: {}\n", dir.string(), ec.message());
    return 1;
  }
  // Check both before writing either, so a refusal leaves no half-set.
  if (!force)
    for (const auto& p : {pupils, contacts})
      if (fs::exists(p)) {
        std::cerr << fmt::format("coffer-demo-school: {} exists; use --force to overwrite it\n", p.string());
        return 1;
      }

  const Export e = generate(options);
  if (!write_file(pupils, e.pupils_csv) || !write_file(contacts, e.contacts_csv)) return 1;
  std::cout << fmt::format("{}: {} pupils, {} groups, {} contacts, {} allergies ({} pupils) -> {}\n", kSchoolName,
                           e.pupils, e.groups, e.contacts, e.allergies, e.pupils_with_allergies, dir.string());
  return 0;
}
