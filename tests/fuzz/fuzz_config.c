/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * sluiced's config parser on arbitrary text: it must refuse or accept, with an error message
 * that is a terminated "name:line: reason", and free everything either way.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text) {
        return 0;
    }
    memcpy(text, data, size);
    text[size] = '\0'; /* a NUL inside ends the text early, as a C string would */
    struct sluiced_config *c = NULL;
    char err[CONFIG_ERROR_MAX];
    err[0] = '\0';
    int rc = config_parse(text, "fuzz.conf", &c, err, sizeof(err));
    if (rc == 0) {
        config_release(c);
    } else if (strncmp(err, "fuzz.conf", 9) != 0 || strlen(err) >= sizeof(err)) {
        abort(); /* every refusal names the file */
    }
    free(text);
    return 0;
}
