/* fieldseal.c: seal, open and re-seal single columns with the vault.
 *
 * The associated data is built here and only here, so every reader and
 * writer agrees on it. Plaintext buffers are wiped before they are freed;
 * nothing here may log, print or keep a value.
 */
#include "fieldseal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

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

int fieldseal_bind(sqlite3_stmt *stmt, int index, const vault_t *vault, const char *anchor,
                   const char *column, const char *text)
{
    return fieldseal_bind_bytes(stmt, index, vault, anchor, column, text, text ? strlen(text) : 0);
}

int fieldseal_bind_bytes(sqlite3_stmt *stmt, int index, const vault_t *vault, const char *anchor,
                         const char *column, const void *data, size_t len)
{
    if (len == 0)
        return sqlite3_bind_null(stmt, index) == SQLITE_OK ? 0 : -1;
    char aad[FIELDSEAL_AAD_MAX];
    int aad_len = s_aad(aad, anchor, column);
    if (aad_len < 0)
        return -1;
    uint8_t stack[FIELDSEAL_STACK];
    uint8_t *out = len + VAULT_OVERHEAD <= sizeof stack ? stack : malloc(len + VAULT_OVERHEAD);
    if (!out)
        return -1;
    size_t sealed = vault_seal(vault, data, len, (const uint8_t *)aad, (size_t)aad_len, out);
    int rc = sqlite3_bind_blob(stmt, index, out, (int)sealed, SQLITE_TRANSIENT);
    if (out != stack)
        free(out);
    return rc == SQLITE_OK ? 0 : -1;
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
