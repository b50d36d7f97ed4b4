// The read-only record views the mount shows, rendered from the database:
// roster.csv, pupils/<Surname, Forename (id)>/profile.txt and manifest.txt.
// Pure functions of the records and the profile's field groups, so the
// views can be tested without a mount and always match the database.
#pragma once

#include <string>
#include <vector>

#include "coffer/vault/records/record.h"
#include "coffer/vault/records/records.h"

namespace coffer::vault {

// "Surname, Forename (key)": safe as one path component ('/' and control
// characters replaced, at most 255 bytes).
std::string pupil_folder_name(const PupilEntry& entry);

// A header row, then one row per pupil with the profile's fields.
std::string roster_csv(const std::vector<Pupil>& pupils, const std::vector<std::string>& fields);

// One pupil's sheet: allergies and medical first, contacts in the order to
// call them, dietary, then details and notes. Sections the profile does not
// carry are left out; carried but empty ones say "none recorded".
std::string profile_txt(const Pupil& pupil, const std::vector<std::string>& fields);

}  // namespace coffer::vault
