// TEMPORARY until the mapped-CSV importer lands.
#include "coffer/error.h"
#include "coffer/vault/import.h"
namespace coffer::vault {
SourceData parse_mapped_csv(const SourceFile&, const SourceFile&, const Selection&) { throw Error(ErrorCode::kUsage, "mapped CSV import is not built yet"); }
}
