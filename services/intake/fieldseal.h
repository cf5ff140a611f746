/* fieldseal.h: one personal-data field, encrypted at rest with the vault.
 *
 * Each personal field of a row is sealed on its own (XChaCha20-Poly1305 via
 * vault_seal) with associated data "<anchor>|<column>", where the anchor is
 * the row's stable identity (a case id, or source and event id). A sealed
 * value copied to another row or column fails to open. Empty values are
 * stored as SQL NULL, never sealed. This module never logs a value.
 */
#ifndef INTAKE_FIELDSEAL_H
#define INTAKE_FIELDSEAL_H

#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>
#include <sqlite3.h>

#include "vigil/vault.h"

/* Seals `len` bytes of `data` for (`anchor`, `column`) into memory from
 * `allocator`: *out (len + VAULT_OVERHEAD bytes, the caller's to free or
 * release with its arena) and *out_len. Empty data is not sealed: *out is
 * NULL and *out_len 0, for an SQL NULL. Thread-safe: uses only the vault.
 * Returns 0, or -1 if the aad does not fit or on allocation failure. */
int fieldseal_seal(const vault_t *vault, const char *anchor, const char *column, const void *data,
                   size_t len, ProtobufCAllocator *allocator, uint8_t **out, size_t *out_len);

/* Seals `text` for (`anchor`, `column`) and binds it to parameter `index`
 * of `stmt` (NULL when `text` is empty or NULL). Returns 0, or -1 on
 * allocation failure or a sqlite bind error. */
int fieldseal_bind(sqlite3_stmt *stmt, int index, const vault_t *vault, const char *anchor,
                   const char *column, const char *text);

/* Opens column `column_index` of the current row of `stmt`, sealed for
 * (`anchor`, `column`). On success *text is a malloc'd NUL-terminated
 * buffer the caller frees (NULL for an SQL NULL), *len (if not NULL) its
 * length, and returns 0. Returns -1
 * if the blob fails to open (tampered, moved, truncated or under a key the
 * vault lacks); then *key_id holds the key id the blob names (or -1). */
int fieldseal_column(sqlite3_stmt *stmt, int column_index, const vault_t *vault, const char *anchor,
                     const char *column, char **text, size_t *len, int *key_id);

/* Re-seals a blob under the vault's current key, same (`anchor`, `column`).
 * On success *out (malloc'd, caller frees) and *out_len hold the new blob
 * and returns 0; returns -1 if the old blob fails to open. */
int fieldseal_reseal(const vault_t *vault, const char *anchor, const char *column, const void *blob,
                     size_t len, unsigned char **out, size_t *out_len);

#endif
