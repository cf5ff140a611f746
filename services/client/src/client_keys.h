/* client_keys.h: loading the CURVE keys libvigil-client connects with.
 *
 * Reads zcert files (the format `vigilctl keygen` and czmq write) without
 * czmq, so the library pulls in no signal handlers or log output. Internal
 * to libvigil-client. It must never print or return a secret key in an
 * error message.
 */
#ifndef VCLIENT_CLIENT_KEYS_H
#define VCLIENT_CLIENT_KEYS_H

#include <stddef.h>

#define CLIENT_KEY_Z85_LEN 40 /* a 32-byte CURVE key in Z85 */

typedef struct {
    char public_key[CLIENT_KEY_Z85_LEN + 1]; /* ours */
    char secret_key[CLIENT_KEY_Z85_LEN + 1]; /* ours; wiped by client_keys_wipe */
    char server_key[CLIENT_KEY_Z85_LEN + 1]; /* the server's public key */
} client_keys_t;

/* Loads our keypair from the secret zcert file `client_cert` (given either
 * as "x.key_secret" or as "x.key" with "x.key_secret" beside it) and the
 * server's public key from the zcert file or Z85 text `server_key`.
 * Refuses a secret file that group or others may read. Returns 0, or -1
 * with a message naming the file in `err`. */
int client_keys_load(const char *client_cert, const char *server_key, client_keys_t *keys,
                     char *err, size_t errlen);

/* Overwrites the keys with zeros. Cannot fail. */
void client_keys_wipe(client_keys_t *keys);

#endif
