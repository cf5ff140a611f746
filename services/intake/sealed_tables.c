/* sealed_tables.c: the data behind sealed_tables.h. Data only; the column
 * names are part of every stored ciphertext's associated data and must
 * never be renamed.
 */
#include "sealed_tables.h"

const sealed_column_t case_sealed_columns[CASE_COL_COUNT] = {
    [CASE_COL_GIVEN_NAME] = {"victim_given_name", "victim.given_name"},
    [CASE_COL_FAMILY_NAME] = {"victim_family_name", "victim.family_name"},
    [CASE_COL_PHONE] = {"victim_phone", "victim.phone"},
    [CASE_COL_EMAIL] = {"victim_email", "victim.email"},
    [CASE_COL_STREET_ADDRESS] = {"victim_street_address", "victim.street_address"},
    [CASE_COL_NARRATIVE] = {"narrative", "narrative"},
    [CASE_COL_OFFENDER_NAMES] = {"offender_names", "offenders.display_name"},
};

const sealed_column_t subscription_sealed_columns[SUB_COL_COUNT] = {
    [SUB_COL_PHONE] = {"phone", "phone"},
    [SUB_COL_EMAIL] = {"email", "email"},
};

const sealed_table_t sealed_tables[SEALED_TABLE_COUNT] = {
    {"intake_cases", "case_id", case_sealed_columns, CASE_COL_COUNT},
    {"intake_subscriptions", "'" SUBSCRIPTION_ANCHOR_PREFIX "' || source || '/' || event_id",
     subscription_sealed_columns, SUB_COL_COUNT},
};
