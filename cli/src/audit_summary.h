// `coffer audit --summary`: the trail in plain English for a DPO, grouped
// per day in local time with the zone offset on every time: who opened what
// with which program, what was refused, when the coffer locked and why.
#pragma once

#include <string>
#include <vector>

#include "coffer/vault/audit/audit.h"

namespace coffer::cli {

struct SummaryEntry {
  vault::AuditEvent event;
  bool without_key = false;  // written without the coffer's key (failed unlock, lock-out, wipe)
  bool unconfirmed = false;  // no verified MAC covers it (yet)
};

// The summary text: a heading naming `coffer_name` and `verdict` (how far
// the trail can be trusted), a line per event under its day, and a count of
// openings, refusals and wrong passphrases. Every value from the trail is
// escaped for the terminal.
std::string audit_summary(const std::vector<SummaryEntry>& entries, const std::string& coffer_name,
                          const std::string& verdict);

// One event as a sentence ("ajones opened roster.csv to read it, with head").
std::string summary_sentence(const vault::AuditEvent& e);

}  // namespace coffer::cli
