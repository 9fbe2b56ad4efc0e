/* SPDX-License-Identifier: Apache-2.0 */

/*
 * fuzz_buf_cursor: the byte buffer and cursor readers are what every Sluice parser of untrusted
 * input is built on, so they get a model-checking fuzzer (in the spirit of s2n's stuffer
 * tests). The input is a program: each opcode byte appends, reads, resets or parses, driven by
 * the bytes after it. An owned buffer and a fixed 64-byte buffer follow the program alongside a
 * plain-array model; any divergence, bounds violation or leak aborts.
 */

#include <sluice/alloc.h>
#include <sluice/buf.h>
#include <sluice/error.h>

#include "common_internal.h"

#include <stdlib.h>
#include <string.h>

#define MODEL_CAP 4096
#define FIXED_CAP 64

struct model {
    uint8_t bytes[MODEL_CAP];
    size_t len;
};

static struct model s_owned_model, s_fixed_model;

static void check(bool cond)
{
    if (!cond) {
        abort();
    }
}

static void check_matches(const struct sl_buf *buf, const struct model *m)
{
    check(sl__buf_is_valid(buf));
    check(buf->len == m->len);
    check(m->len == 0 || memcmp(buf->data, m->bytes, m->len) == 0);
}

/* Appends to buf and its model; the fixed buffer must refuse exactly when it lacks room. */
static void append_both(struct sl_buf *buf, struct model *m, struct sl_cursor src)
{
    int rc = sl_buf_append(buf, src);
    bool fits = buf->owned ? m->len + src.len <= MODEL_CAP : m->len + src.len <= FIXED_CAP;
    if (buf->owned && !fits) {
        check(rc == 0); /* owned buffers grow; keep the model bounded by resetting both */
        sl_buf_reset(buf);
        m->len = 0;
        return;
    }
    check(fits ? rc == 0 : rc == SL_E_BUF_FULL);
    if (rc == 0 && src.len) {
        memcpy(m->bytes + m->len, src.ptr, src.len);
        m->len += src.len;
    }
}

/* Parses the buffer back with the cursor readers and checks each value against the model. */
static void parse_back(const struct sl_buf *buf, const struct model *m)
{
    struct sl_cursor cur = sl_buf_cursor(buf);
    size_t offset = 0;
    for (;;) {
        uint32_t v32;
        int rc = sl_cursor_read_be32(&cur, &v32);
        if (rc != 0) {
            check(rc == SL_E_SHORT_READ && cur.len == m->len - offset && cur.len < 4);
            break;
        }
        const uint8_t *b = m->bytes + offset;
        check(v32 == ((uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3]));
        offset += 4;
    }
    uint64_t v64;
    check(cur.len >= 8 || sl_cursor_read_be64(&cur, &v64) == SL_E_SHORT_READ);
}

static void run_op(uint8_t op, struct sl_cursor *in, struct sl_buf *owned, struct sl_buf *fixed)
{
    uint8_t n = 0;
    struct sl_cursor chunk = {0};
    switch (op % 6) {
    case 0: /* append the next n input bytes (or what is left) */
        if (sl_cursor_read_u8(in, &n) != 0) {
            return;
        }
        if (sl_cursor_split(in, n, &chunk) != 0) {
            check(in->len < n);
            chunk = *in;
            check(sl_cursor_skip(in, in->len) == 0);
        }
        append_both(owned, &s_owned_model, chunk);
        append_both(fixed, &s_fixed_model, chunk);
        break;
    case 1: /* append a big-endian integer taken from the input */
        if (sl_cursor_read_u8(in, &n) != 0) {
            return;
        }
        append_both(owned, &s_owned_model, sl_cursor_from(&n, 1));
        append_both(fixed, &s_fixed_model, sl_cursor_from(&n, 1));
        break;
    case 2: /* append the owned buffer to itself (the aliasing case) */
        if (owned->len <= MODEL_CAP / 2) {
            check(sl_buf_append(owned, sl_buf_cursor(owned)) == 0);
            memcpy(s_owned_model.bytes + s_owned_model.len, s_owned_model.bytes, s_owned_model.len);
            s_owned_model.len *= 2;
        }
        break;
    case 3:
        sl_buf_reset(owned);
        sl_buf_reset(fixed);
        s_owned_model.len = s_fixed_model.len = 0;
        break;
    case 4:
        parse_back(owned, &s_owned_model);
        parse_back(fixed, &s_fixed_model);
        break;
    default: /* reserve an input-chosen amount on the fixed buffer: never grows */
        if (sl_cursor_read_u8(in, &n) == 0) {
            int rc = sl_buf_reserve(fixed, n);
            check(rc == (s_fixed_model.len + n <= FIXED_CAP ? 0 : SL_E_BUF_FULL));
        }
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_cursor in = sl_cursor_from(data, size);
    struct sl_buf owned;
    uint8_t fixed_mem[FIXED_CAP];
    struct sl_buf fixed;
    check(sl_buf_init(&owned, 0) == 0);
    sl_buf_init_fixed(&fixed, fixed_mem, sizeof(fixed_mem));
    s_owned_model.len = s_fixed_model.len = 0;
    uint8_t op;
    while (sl_cursor_read_u8(&in, &op) == 0) {
        run_op(op, &in, &owned, &fixed);
        check_matches(&owned, &s_owned_model);
        check_matches(&fixed, &s_fixed_model);
    }
    sl_buf_clean_up(&owned);
    return 0;
}
