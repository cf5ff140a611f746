/* fieldseal.c: seal, open and re-seal single columns with the vault.
 *
 * The associated data is built here and only here, so every reader and
 * writer agrees on it. Plaintext buffers are wiped before they are freed;
 * nothing here may log, print or keep a value.
 */
#include "fieldseal.h"

#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "arena.h"

enum {
    FIELDSEAL_AAD_MAX = 256,
    FIELDSEAL_STACK = 1024, /* values this short are sealed without malloc */
};

/* Writes "<anchor>|<column>" into `aad` (NUL-terminated; without printf,
 * as this runs for every sealed field). Returns its length, or -1 if it
 * does not fit. */
static int s_aad(char aad[FIELDSEAL_AAD_MAX], const char *anchor, const char *column)
{
    size_t a = strlen(anchor), c = strlen(column);
    if (a + 1 + c >= FIELDSEAL_AAD_MAX)
        return -1;
    memcpy(aad, anchor, a);
    aad[a] = '|';
    memcpy(aad + a + 1, column, c + 1);
    return (int)(a + 1 + c);
}

int fieldseal_seal(const vault_t *vault, const char *anchor, const char *column, const void *data,
                   size_t len, ProtobufCAllocator *allocator, uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (len == 0)
        return 0;
    char aad[FIELDSEAL_AAD_MAX];
    int aad_len = s_aad(aad, anchor, column);
    if (aad_len < 0)
        return -1;
    uint8_t *sealed = allocator->alloc(allocator->allocator_data, len + VAULT_OVERHEAD);
    if (!sealed)
        return -1;
    *out_len = vault_seal(vault, data, len, (const uint8_t *)aad, (size_t)aad_len, sealed);
    *out = sealed;
    return 0;
}

int fieldseal_bind(sqlite3_stmt *stmt, int index, const vault_t *vault, const char *anchor,
                   const char *column, const char *text)
{
    alignas(max_align_t) unsigned char stack[FIELDSEAL_STACK];
    arena_t arena;
    arena_init(&arena, stack, sizeof stack);
    uint8_t *sealed;
    size_t sealed_len;
    int rc = fieldseal_seal(vault, anchor, column, text, text ? strlen(text) : 0, &arena.allocator,
                            &sealed, &sealed_len);
    if (rc == 0)
        rc = (sealed ? sqlite3_bind_blob(stmt, index, sealed, (int)sealed_len, SQLITE_TRANSIENT)
                     : sqlite3_bind_null(stmt, index)) == SQLITE_OK
                 ? 0
                 : -1;
    arena_release(&arena);
    return rc;
}

int fieldseal_column(sqlite3_stmt *stmt, int column_index, const vault_t *vault, const char *anchor,
                     const char *column, char **text, size_t *len_out, int *key_id)
{
    *text = NULL;
    if (len_out)
        *len_out = 0;
    *key_id = -1;
    if (sqlite3_column_type(stmt, column_index) == SQLITE_NULL)
        return 0;
    const uint8_t *blob = sqlite3_column_blob(stmt, column_index);
    size_t len = (size_t)sqlite3_column_bytes(stmt, column_index);
    *key_id = vault_blob_key_id(blob, len);
    char aad[FIELDSEAL_AAD_MAX];
    int aad_len = s_aad(aad, anchor, column);
    if (aad_len < 0 || len < VAULT_OVERHEAD)
        return -1;
    char *plain = malloc(len - VAULT_OVERHEAD + 1);
    if (!plain)
        return -1;
    long n =
        vault_open_blob(vault, blob, len, (const uint8_t *)aad, (size_t)aad_len, (uint8_t *)plain);
    if (n < 0) {
        free(plain);
        return -1;
    }
    plain[n] = '\0';
    *text = plain;
    if (len_out)
        *len_out = (size_t)n;
    return 0;
}

int fieldseal_reseal(const vault_t *vault, const char *anchor, const char *column, const void *blob,
                     size_t len, unsigned char **out, size_t *out_len)
{
    char aad[FIELDSEAL_AAD_MAX];
    int aad_len = s_aad(aad, anchor, column);
    if (aad_len < 0 || len < VAULT_OVERHEAD)
        return -1;
    size_t plain_len = len - VAULT_OVERHEAD;
    uint8_t *plain = malloc(plain_len + 1);
    uint8_t *sealed = malloc(plain_len + VAULT_OVERHEAD);
    long n = plain && sealed
                 ? vault_open_blob(vault, blob, len, (const uint8_t *)aad, (size_t)aad_len, plain)
                 : -1;
    if (n < 0) {
        if (plain)
            sodium_memzero(plain, plain_len);
        free(plain);
        free(sealed);
        return -1;
    }
    *out_len = vault_seal(vault, plain, (size_t)n, (const uint8_t *)aad, (size_t)aad_len, sealed);
    *out = sealed;
    sodium_memzero(plain, plain_len);
    free(plain);
    return 0;
}
