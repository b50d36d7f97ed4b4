// Remedies in the CLI's words; see remedy.h. Most are appended to the
// library's message; a few replace it, where the flag is the subject.
#include "remedy.h"

namespace coffer::cli {

std::string error_text(const Error& error) {
  std::string m = error.what();
  switch (error.remedy()) {
    case Remedy::kNone:
      return m;
    case Remedy::kRecoverLockedOut:
      return m + "; IT can reopen it with the school's recovery key (coffer recover)";
    case Remedy::kRecoverNoPassphrase:
      return m + "; IT can set one with coffer recover";
    case Remedy::kRecoverNoUsableSlot:
      return m + "; IT can reopen it with coffer recover";
    case Remedy::kLockOtherProcess:
      return m + "; lock it there first (coffer lock)";
    case Remedy::kHoldNeedsReason:
      return m + " (--reason TEXT)";
    case Remedy::kReleaseHoldWithKey:
      return m + " (coffer hold PATH --release --recovery-key school.key)";
    case Remedy::kRecoveryKeyIsAudit:
      return "--recovery-key names an audit key; give the recovery .pub";
    case Remedy::kAuditKeyIsRecovery:
      return "--audit-key names a recovery key; give the audit .pub";
    case Remedy::kVerifyAudit:
      return m + " (run coffer audit --verify)";
    case Remedy::kNameFormat:
      return m + "; name the format with --format";
    case Remedy::kNameFormatOfFile:
      return m + "; name it with --format (coffer-csv, csv with --map, oneroster, sds or ctf)";
    case Remedy::kSourceDirectoryPath:
      return m + "; --from names the MIS export (its directory): check the path";
    case Remedy::kSourceFilePath:
      return m + "; --from names the MIS export (its file): check the path";
    case Remedy::kMappingNeeded:
      return "--format csv needs --map FILE (the column mapping)";
    case Remedy::kMappedCsvIsOneFile:
      return m + "; --format csv reads one CSV file";
    case Remedy::kUseMapping:
      return m + "; rename or remove it, or import with --format csv --map";
    case Remedy::kSelectPupils:
      return m + "; name them with --pupil, --pupils-file or --group";
    case Remedy::kSelectByUpn:
      return m + "; select its pupils by UPN with --pupil or --pupils-file";
    case Remedy::kAllowMissingContacts:
      return m +
             "; add a contact in the MIS and export again, or allow them with --allow-missing (allow_missing = "
             "true in a plan) to import them anyway (the trip leader must then get the numbers)";
  }
  return m;
}

}  // namespace coffer::cli
