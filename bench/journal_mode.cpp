// Measures bulk-write throughput of the container with a rollback journal
// (DELETE, the shipped choice) against WAL, through the real coffer VFS and
// SQLCipher settings: 64 KiB blobs, committed every 4 MiB, synchronous=FULL.
// Usage: bench_journal_mode [MiB=256] [dir=/var/tmp]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "coffer/keystore/random.h"
#include "coffer/vault/coffer/coffer.h"
#include "create_params.h"  // tests/support: the same CreateParams builder as the tests

using namespace coffer;

namespace {

class NowClock final : public vault::Clock {
 public:
  std::int64_t now() const override { return 1795000000; }
};

double run(const std::filesystem::path& dir, const std::string& mode, int mib) {
  auto path = dir / ("bench-" + mode + ".coffer");
  std::filesystem::remove(path);
  keystore::Passphrase pw;
  for (char c : std::string("bench pass")) pw.push_back(static_cast<std::uint8_t>(c));
  NowClock clock;
  vault::CreateParams p = test::CreateParamsBuilder().owner("bench").expires(1795000000 + 86400).build();
  vault::Coffer::create(path, p, pw, keystore::system_random(), clock);
  auto start = std::chrono::steady_clock::now();
  {
    vault::Coffer c = vault::Coffer::unlock(path, pw, keystore::system_random());
    auto& db = c.database();
    db.exec("PRAGMA journal_mode = " + mode);
    db.exec("CREATE TABLE chunk(id INTEGER PRIMARY KEY, data BLOB)");
    std::vector<std::uint8_t> blob(64 * 1024);
    keystore::system_random().fill(blob);
    auto ins = db.prepare("INSERT INTO chunk(data) VALUES (?)");
    int blobs = mib * 16;
    for (int i = 0; i < blobs; ++i) {
      if (i % 64 == 0) db.exec("BEGIN");
      ins.bind_blob(1, blob);
      ins.step();
      ins.reset();
      if (i % 64 == 63 || i + 1 == blobs) db.exec("COMMIT");
    }
    if (mode == "WAL") db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  }
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::filesystem::remove(path);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  int mib = argc > 1 ? std::atoi(argv[1]) : 256;
  std::filesystem::path dir = argc > 2 ? argv[2] : "/var/tmp";
  double del = run(dir, "DELETE", mib);
  double wal = run(dir, "WAL", mib);
  std::printf("bulk write of %d MiB in 64 KiB blobs, 4 MiB transactions, synchronous=FULL\n", mib);
  std::printf("  rollback journal (DELETE): %6.2f s  %7.1f MiB/s\n", del, mib / del);
  std::printf("  WAL + checkpoint:          %6.2f s  %7.1f MiB/s\n", wal, mib / wal);
  std::printf("  ratio WAL/DELETE time:     %6.2f\n", wal / del);
  return 0;
}
