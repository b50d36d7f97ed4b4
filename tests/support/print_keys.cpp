// Test-only: prints a coffer's master key and SQLCipher raw key (hex, one
// per line) for the passphrase on standard input, so the key-memory test
// can look for copies of them in the filesystem process's memory. Never
// installed; a real attacker who has the passphrase has the keys anyway.
#include <iostream>
#include <string>

#include "coffer/keystore/encoding.h"
#include "coffer/keystore/subkeys.h"
#include "coffer/vault/container/coffer_file.h"
#include "coffer/vault/container/key_slots.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: coffer-test-print-keys COFFER < passphrase\n";
    return 2;
  }
  std::string line;
  std::getline(std::cin, line);
  coffer::keystore::Passphrase pw;
  for (char c : line) pw.push_back(static_cast<std::uint8_t>(c));
  coffer::vault::SelectedHeader sel = coffer::vault::read_header(argv[1]);
  coffer::vault::SlotSearch found = coffer::vault::KeySlots(sel.header).open(pw);
  if (!found.master) {
    std::cerr << "no slot opens with that passphrase\n";
    return 3;
  }
  coffer::keystore::DbKey db = coffer::keystore::derive_db_key(*found.master);
  std::cout << coffer::keystore::to_hex(found.master->reveal_bytes()) << "\n"
            << coffer::keystore::to_hex(db.reveal_bytes()) << "\n";
  return 0;
}
